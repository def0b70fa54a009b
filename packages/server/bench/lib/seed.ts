/**
 * Seeds a data directory the way the store lays it out (run files + summary index), without going through HTTP:
 * one run is built with the real machine, then copied under fresh ids. 100k runs take seconds this way, minutes
 * through the API. The server then starts on the directory and recovers every run like after a restart.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initialTransition, transition } from 'xstate';
import {
  attemptIdFor,
  leafState,
  parseRunConfig,
  runMachine,
  toRunSummary,
  type ResolvedRunConfig,
  type RunEvent,
  type RunEventEntry,
} from '@tether/machine';
import { Signer } from '../../src/engine/signer.ts';
import { indexLineOf } from '../../src/store/index-line.ts';
import type { PersistedRunSnapshot, RunDoc } from '../../src/store/types.ts';

/** Every benchmark server gets this secret, so the load generator can sign callback URLs itself. */
export const BENCH_SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';
export const benchSigner = new Signer(Buffer.from(BENCH_SECRET, 'utf8'), 'http://127.0.0.1:1');

/** The bench run's config as a request body: an hour to the callback, a 10-minute heartbeat deadline each heartbeat moves. */
export const benchRunBody = (targetUrl: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'bench job',
  target: { url: targetUrl },
  payload: { report: 'monthly', rows: 1200 },
  timeoutSeconds: 3600,
  heartbeatTimeoutSeconds: 600,
  retryLimit: 3,
  ...over,
});

export function benchConfig(targetUrl: string, over: Record<string, unknown> = {}): ResolvedRunConfig {
  const raw = benchRunBody(targetUrl, over);
  // `undefined` in `over` removes a default (e.g. no heartbeat timeout).
  for (const [k, v] of Object.entries(raw)) if (v === undefined) delete raw[k];
  const r = parseRunConfig(raw);
  if (!r.ok) throw new Error(`bench config: ${JSON.stringify(r.errors)}`);
  return r.value;
}

/** Run ids as the engine makes them: `run_` + base36 ms + 8 chars, time-sortable and unique per n. */
export const benchRunId = (t0: number, n: number): string => `run_${(t0 + n).toString(36).padStart(9, '0')}${n.toString(32).padStart(8, '0')}`;

type Stage = 'awaitingCallback' | 'succeeded';

function buildDoc(runId: string, config: ResolvedRunConfig, at: number, stage: Stage): RunDoc {
  const input = { runId, config, at };
  let [snap] = initialTransition(runMachine, input);
  const events: RunEventEntry[] = [
    {
      seq: 0,
      at: new Date(at).toISOString(),
      type: 'run.created',
      source: 'api',
      verdict: 'recorded',
      detail: 'Created.',
      stateAfter: leafState(snap.value),
    },
  ];
  const attemptId = attemptIdFor(runId, 1);
  const script: RunEvent[] = [
    { type: 'run.start', at },
    { type: 'trigger.succeeded', attemptId, at: at + 15 },
  ];
  if (stage === 'succeeded') script.push({ type: 'callback.received', attemptId, success: true, message: 'done', at: at + 4000 });
  let actions: ReadonlyArray<{ type: string; params?: unknown }> = [];
  for (const event of script) {
    [snap, actions] = transition(runMachine, snap, event);
    events.push({
      seq: events.length,
      at: new Date(event.at).toISOString(),
      type: event.type,
      source: 'api',
      verdict: 'applied',
      stateAfter: leafState(snap.value),
      event,
    });
  }
  const snapshot = JSON.parse(JSON.stringify(runMachine.getPersistedSnapshot(snap))) as PersistedRunSnapshot;
  const timers: RunDoc['timers'] = [];
  if (stage === 'awaitingCallback') {
    const raise = actions.find((a) => a.type === 'xstate.raise') as { params: { id: string; delay: number; event: { type: string } } } | undefined;
    if (!raise) throw new Error('expected the attempt timer');
    timers.push({ key: raise.params.id, dueAt: at + 15 + raise.params.delay, eventType: raise.params.event.type });
  }
  return { v: 1, id: runId, input, rerunOf: null, snapshot, timers, outbox: [], events };
}

export interface SeedSpec {
  dir: string;
  /** Runs waiting for their callback, one armed timer each. */
  waiting: number;
  /** Finished runs (succeeded): stored history that a commit must not pay for. */
  finished: number;
  targetUrl: string;
  /** Creation time of the first run; timers are due an hour (callback timeout) / 10 min (heartbeat) later. */
  t0?: number;
}

export interface Seeded {
  /** Waiting runs with their current attempt, for the load generator. */
  waiting: { runId: string; attemptId: string }[];
  finished: number;
}

/** Writes `finished` finished runs, then `waiting` waiting ones (newest), as files plus index lines. */
export async function seedDataDir(spec: SeedSpec): Promise<Seeded> {
  const t0 = spec.t0 ?? Date.now();
  const config = benchConfig(spec.targetUrl);
  await mkdir(join(spec.dir, 'runs'), { recursive: true });
  const templateId = benchRunId(t0, 0);
  const stem = templateId.slice(4);
  const templates = {
    awaitingCallback: JSON.stringify(buildDoc(templateId, config, t0, 'awaitingCallback')),
    succeeded: JSON.stringify(buildDoc(templateId, config, t0, 'succeeded')),
  };
  // Index lines as the store writes them: a waiting run's line carries its timers (index-line.ts).
  const lineOf = (stage: Stage) => {
    const doc = buildDoc(templateId, config, t0, stage);
    return indexLineOf(toRunSummary(doc.snapshot), stage === 'succeeded' ? null : doc).slice(0, -1);
  };
  const summaries = { awaitingCallback: lineOf('awaitingCallback'), succeeded: lineOf('succeeded') };
  const total = spec.finished + spec.waiting;
  const index: string[] = [];
  const waiting: Seeded['waiting'] = [];
  const BATCH = 512;
  for (let i = 0; i < total; i += BATCH) {
    const writes: Promise<void>[] = [];
    for (let n = i; n < Math.min(total, i + BATCH); n++) {
      const stage: Stage = n < spec.finished ? 'succeeded' : 'awaitingCallback';
      const runId = benchRunId(t0, n + 1);
      const s = runId.slice(4);
      writes.push(writeFile(join(spec.dir, 'runs', `${runId}.json`), templates[stage].replaceAll(stem, s)));
      index.push(summaries[stage].replaceAll(stem, s));
      if (stage === 'awaitingCallback') waiting.push({ runId, attemptId: attemptIdFor(runId, 1) });
    }
    await Promise.all(writes);
  }
  await writeFile(join(spec.dir, 'index.jsonl'), index.length ? `${index.join('\n')}\n` : '');
  return { waiting, finished: spec.finished };
}

/** Path + query of a signed heartbeat / callback URL for a seeded run. */
export function heartbeatPath(runId: string, attemptId: string): string {
  return `/api/callbacks/${runId}/${attemptId}/heartbeat?sig=${benchSigner.sign(runId, attemptId, 'heartbeat')}`;
}
export function callbackPath(runId: string, attemptId: string): string {
  return `/api/callbacks/${runId}/${attemptId}?sig=${benchSigner.sign(runId, attemptId)}`;
}
