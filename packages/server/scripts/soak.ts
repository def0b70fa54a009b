/**
 * pnpm soak — the chaos soak. Starts the real server as a child process on a fixed loopback port, launches hundreds of
 * runs against its built-in simulator with scripted outcomes, calls back itself for some of them, cancels a few, and
 * SIGKILLs the server at random moments, restarting it on the same port and data directory each time. At the end it
 * checks what must hold (test/helpers/soak-checks.ts) and exits 1 if anything does not.
 *
 *   pnpm soak                       full: 220 runs, 12 kills, a few minutes
 *   pnpm soak --quick               CI:    40 runs,  3 kills, under a minute   (or SOAK_QUICK=1)
 *   options: --runs N --kills N --seed N --keep (keep the data dir) --json FILE (figures as JSON)
 *
 * Bounded: every wait has a deadline; loopback only; the child is killed if the soak itself dies.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Run, RunEventEntry, RunSummary } from '@tether/machine';
import type { RunDoc } from '../src/store/types.ts';
import { ServerProcess, freePort } from '../test/helpers/soak-server.ts';
import { makeScript, runConfigFor, seededRandom, type DriverAnswer, type SoakScript } from '../test/helpers/soak-script.ts';
import { CHECK_LABELS, judgeSoak, type CheckName, type ObservedAnswer, type ObservedTrigger, type RunRecord } from '../test/helpers/soak-checks.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    kills: { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});

const quick = args.quick || process.env.SOAK_QUICK === '1';
const profile = quick
  ? { name: 'quick', runs: 40, kills: 3, wave: 8, launchWindowMs: 14_000, drainMs: 30_000, progressMs: 3_000 }
  : { name: 'full', runs: 220, kills: 12, wave: 10, launchWindowMs: 100_000, drainMs: 60_000, progressMs: 5_000 };
const RUNS = args.runs ? Number(args.runs) : profile.runs;
const KILLS = args.kills ? Number(args.kills) : profile.kills;
const SEED = args.seed ? Number(args.seed) : Math.floor(Math.random() * 2 ** 31);
const TIMER_TOLERANCE_MS = 1_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
const say = (line: string) => console.log(`${stamp()} ${line}`);

interface Reply {
  status: number;
  json: unknown;
}
/** null: no answer. `refused` means the request never reached a server; otherwise it may have landed. */
type Sent = Reply | { status: null; refused: boolean };

async function call(method: string, url: string, body?: unknown): Promise<Sent> {
  try {
    const res = await fetch(url, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, json };
  } catch (e) {
    const code = (e as { cause?: { code?: string } }).cause?.code;
    return { status: null, refused: code === 'ECONNREFUSED' };
  }
}

async function main(): Promise<number> {
  const root = await mkdtemp(join(tmpdir(), 'tether-soak-'));
  const dataDir = join(root, 'data');
  const port = await freePort();
  const server = new ServerProcess({ port, dataDir, logFile: join(root, 'server.log') });
  process.on('exit', () => server.killNow());
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      server.killNow();
      process.exit(130);
    });
  const base = server.base;
  const target = `${base}/simulator/jobs`;
  const rand = seededRandom(SEED);
  const killRand = seededRandom(SEED ^ 0x5eed);
  const scripts: SoakScript[] = [];

  console.log(`Tether soak (${profile.name}) — seed ${SEED}: ${RUNS} runs, ${KILLS} SIGKILLs, server on ${base}, data in ${dataDir}`);
  console.log(`The same scripts again: pnpm soak${quick ? ' --quick' : ''} --seed ${SEED}  (kill moments follow the machine's pace)\n`);

  const records = new Map<string, RunRecord>(); // by run id
  const ambiguous: SoakScript[] = [];
  const setupErrors: string[] = [];
  const answers: ObservedAnswer[] = [];
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
    return p;
  };
  const untilUp = async () => {
    while (!server.up) await sleep(25);
  };
  let launched = 0;
  let driverCallbacks = 0;
  let lostAnswers = 0;
  let finished = false;

  /** At-least-once, as the protocol asks of callers: retried until a definitive answer (503 and lost answers retry). */
  async function sendUntilAnswered(url: string, body: unknown, maxTries = 40): Promise<DriverAnswer> {
    let lostTries = 0;
    for (let i = 0; i < maxTries; i++) {
      await untilUp();
      const r = await call('POST', url, body);
      if (r.status !== null && r.status !== 503) {
        const j = r.json as { result?: string; error?: { code?: string } } | null;
        return { status: r.status, result: j?.result ?? j?.error?.code ?? null, lostTries };
      }
      if (r.status === null && !r.refused) {
        lostTries++;
        lostAnswers++;
      }
      await sleep(100);
    }
    return { status: null, result: null, lostTries };
  }

  // The soak's own scheduling stalls: on an overloaded machine every process is starved, the server's timers included.
  const stalls: Array<{ from: number; to: number }> = [];
  let lastTick = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    if (now - lastTick > 125) stalls.push({ from: lastTick + 25, to: now });
    lastTick = now;
  }, 25);

  await server.start();
  say(`boot 1 (pid ${server.boots[0]!.pid}) listening after ${server.boots[0]!.upAt! - server.boots[0]!.spawnedAt} ms`);

  // ── launcher ──
  const launchEvery = profile.launchWindowMs / RUNS; // per run; a wave leaves every `wave` of these
  async function launch(script: SoakScript): Promise<void> {
    for (;;) {
      await untilUp();
      const r = await call('POST', `${base}/api/runs`, runConfigFor(script, target));
      if (r.status === 201) {
        const run = r.json as Run;
        const rec: RunRecord = { script, runId: run.id, driverAnswers: new Map(), cancel: null };
        records.set(run.id, rec);
        if (script.cancelAfterMs !== null)
          track(
            sleep(script.cancelAfterMs).then(async () => {
              rec.cancel = await sendUntilAnswered(`${base}/api/runs/${run.id}/cancel`, { reason: 'soak driver' });
            }),
          );
        return;
      }
      if (r.status === null && r.refused) continue; // never reached a server: safe to send again
      if (r.status === null)
        ambiguous.push(script); // may or may not exist: found by name at the end
      else setupErrors.push(`POST /api/runs for ${script.name} answered ${r.status}: ${JSON.stringify(r.json)}`);
      return;
    }
  }
  // In waves, so that a kill finds many runs in flight: triggers on the wire, callbacks scheduled, timers armed. At a
  // steady pace: after a restart the launcher carries on where it was, it does not make up for the downtime in a burst.
  // A creation whose answer died with the server may not exist: more are launched until RUNS were answered 201.
  let launching = 0;
  const launcher = (async () => {
    const waveEvery = launchEvery * profile.wave;
    let nextDue = t0 + 1_000;
    while (records.size < RUNS && scripts.length < 2 * RUNS) {
      if (records.size + launching >= RUNS) {
        await sleep(50);
        continue;
      }
      if (nextDue > Date.now()) await sleep(nextDue - Date.now());
      await untilUp();
      const n = Math.min(profile.wave, RUNS - records.size - launching);
      for (let i = 0; i < n; i++) {
        const script = makeScript(rand, `soak-${SEED}-${scripts.length}`);
        scripts.push(script);
        launched++;
        launching++;
        track(launch(script).finally(() => launching--));
      }
      nextDue = Date.now() + waveEvery;
    }
  })();

  // ── killer: SIGKILL, then restart on the same port and data dir ──
  // Spread over the launches, each at a random moment within 1.5 s after a wave left: runs are then in flight, some
  // triggers on the wire. A restart that took long makes the next kill land sooner, maybe mid-recovery.
  const killer = (async () => {
    for (let k = 1; k <= KILLS; k++) {
      while (launched < Math.floor((k * RUNS) / (KILLS + 1))) await sleep(25);
      await sleep(killRand() * 1_500);
      const boot = await server.kill();
      say(
        `SIGKILL boot ${boot.n} (pid ${boot.pid}) after ${((boot.killedAt! - boot.upAt!) / 1000).toFixed(1)} s up · ${records.size} runs created so far`,
      );
      const next = await server.start();
      say(`boot ${next.n} (pid ${next.pid}) listening after ${next.upAt! - next.spawnedAt} ms`);
    }
  })();

  // ── watcher: the driver's own callbacks for `never` attempts, sent some time after it sees them waiting ──
  const scheduled = new Set<string>();
  const watcher = (async () => {
    while (!finished) {
      await sleep(200);
      if (!server.up) continue;
      const due = [...records.values()].filter((rec) => rec.script.driverCallbacks.some((d) => !scheduled.has(`${rec.runId}#${d.attempt}`)));
      await Promise.all(
        due.map(async (rec) => {
          const r = await call('GET', `${base}/api/runs/${rec.runId}`);
          if (r.status !== 200) return;
          const run = r.json as Run;
          const a = run.attempts[run.attempts.length - 1];
          if (run.status !== 'running') {
            for (const d of rec.script.driverCallbacks) scheduled.add(`${rec.runId}#${d.attempt}`); // too late for the rest
            return;
          }
          const dc = a && rec.script.driverCallbacks.find((d) => d.attempt === a.number);
          const key = `${rec.runId}#${a?.number}`;
          if (!a || !dc || scheduled.has(key) || a.state !== 'AwaitingCallback' || !a.callbackUrl) return;
          scheduled.add(key);
          const url = a.callbackUrl;
          const body = { success: dc.success, message: `soak driver, attempt ${dc.attempt}`, ...(dc.success ? {} : { retryable: dc.retryable }) };
          track(
            sleep(dc.afterMs).then(async () => {
              driverCallbacks++;
              const ans = await sendUntilAnswered(url, body);
              rec.driverAnswers.set(dc.attempt, ans);
              if (ans.status !== null) answers.push({ runId: rec.runId, attemptId: a.id, by: 'driver', status: ans.status, result: ans.result });
            }),
          );
        }),
      );
    }
  })();

  // ── the simulator's record: every trigger it received and every callback answer it got, per boot ──
  const triggers: ObservedTrigger[] = [];
  const seenJobs = new Map<string, number>(); // job key → callbacks already taken
  interface Job {
    receivedAt: string;
    runId: string;
    attemptId: string;
    idempotencyKey: string | null;
    callbacks: Array<{ status: number | null; result: string | null }>;
  }
  const pollSimulator = async () => {
    const boot = server.boots[server.boots.length - 1]!;
    const r = await call('GET', `${base}/simulator/jobs`);
    if (r.status !== 200) return;
    for (const job of (r.json as { jobs: Job[] }).jobs) {
      const key = `${boot.n}|${job.receivedAt}|${job.attemptId}`;
      if (!seenJobs.has(key)) {
        seenJobs.set(key, 0);
        triggers.push({ runId: job.runId, attemptId: job.attemptId, idempotencyKey: job.idempotencyKey });
      }
      const taken = seenJobs.get(key)!;
      for (const cb of job.callbacks.slice(taken))
        if (cb.status !== null && cb.status !== 503)
          answers.push({ runId: job.runId, attemptId: job.attemptId, by: 'simulator', status: cb.status, result: cb.result });
      seenJobs.set(key, job.callbacks.length);
    }
  };
  const simulatorPoller = (async () => {
    while (!finished) {
      await sleep(500);
      if (server.up) await pollSimulator();
    }
  })();

  // ── progress ──
  const listAll = async (): Promise<RunSummary[] | null> => {
    const out: RunSummary[] = [];
    let cursor: string | null = null;
    do {
      const r = await call('GET', `${base}/api/runs?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      if (r.status !== 200) return null;
      const page = r.json as { runs: RunSummary[]; nextCursor: string | null };
      out.push(...page.runs);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  };
  let lastList: RunSummary[] = [];
  const progress = (async () => {
    while (!finished) {
      await sleep(profile.progressMs);
      if (!server.up || finished) continue;
      lastList = (await listAll()) ?? lastList;
      const final = lastList.filter((s) => s.status !== 'running').length;
      say(
        `boot ${server.boots.length} · launched ${launched} · created ${records.size}/${RUNS} · final ${final}/${lastList.length} · kills ${server.boots.length - 1}/${KILLS} · driver callbacks ${driverCallbacks} · answers seen ${answers.length}`,
      );
    }
  })();

  await Promise.all([launcher, killer]);
  say(`${records.size} runs created (${launched} launched), ${KILLS} kills done; draining (at most ${profile.drainMs / 1000} s)`);
  const drainUntil = Date.now() + profile.drainMs;
  for (;;) {
    const list = server.up ? await listAll() : null;
    if (list) lastList = list;
    const open = lastList.filter((s) => s.status === 'running').length;
    if (list && open === 0 && pending.size === 0) break;
    if (Date.now() > drainUntil) {
      say(`drain deadline: ${open} runs still running, ${pending.size} driver requests pending`);
      break;
    }
    await sleep(500);
  }
  // Simulator callbacks still on their way (an attempt that timed out first gets its callback a moment later, as 410).
  await sleep(2_000);
  await pollSimulator();
  finished = true;
  await Promise.all([watcher, simulatorPoller, progress]);

  // ── evidence: what the server serves, then its files after a graceful stop ──
  const listing = (await listAll()) ?? [];
  const byName = new Map(listing.map((s) => [s.name, s.id]));
  let ambiguousFound = 0;
  for (const script of ambiguous) {
    const id = byName.get(script.name);
    if (id) {
      ambiguousFound++;
      records.set(id, { script, runId: id, driverAnswers: new Map(), cancel: null });
    }
  }
  const served = new Map<string, { run: Run; events: RunEventEntry[] } | null>();
  const listed = new Set(listing.map((s) => s.id));
  for (const id of records.keys()) {
    const [r, e] = await Promise.all([call('GET', `${base}/api/runs/${id}`), call('GET', `${base}/api/runs/${id}/events`)]);
    served.set(
      id,
      r.status === 200 && e.status === 200 && listed.has(id) ? { run: r.json as Run, events: (e.json as { events: RunEventEntry[] }).events } : null,
    );
  }
  const unknownRuns = listing.filter((s) => !records.has(s.id));
  await server.close();
  clearInterval(ticker);
  const files = new Map<string, RunDoc>();
  for (const name of await readdir(join(dataDir, 'runs'))) {
    if (!/^run_.*\.json$/.test(name)) continue;
    const doc = JSON.parse(await readFile(join(dataDir, 'runs', name), 'utf8')) as RunDoc;
    files.set(doc.id, doc);
  }

  const verdict = judgeSoak({
    records: [...records.values()],
    served,
    files,
    answers,
    triggers,
    boots: server.boots,
    timerToleranceMs: TIMER_TOLERANCE_MS,
    // The quick soak runs in `pnpm test`, which must pass on a busy machine: how late timers fired is reported there,
    // not judged (firing early still fails). The full soak judges it.
    timerLateness: quick ? 'report' : 'check',
    stalls,
  });
  const kills = server.boots.filter((b) => b.killedAt !== null).length;
  const f = verdict.figures;
  const extra: Array<[string, number, string]> = [
    ['SIGKILLs short of the target', Math.max(0, KILLS - kills), `${kills} done`],
    ['runs the server holds that the soak never asked for', unknownRuns.length, ''],
    ['run creations answered with an error', setupErrors.length, ''],
  ];

  console.log(`\nResults (seed ${SEED}, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  console.log(
    `  runs checked          ${f.runs}  (${records.size - ambiguousFound} created with 201; ${ambiguousFound} of ${ambiguous.length} whose answer a kill lost were found by name)`,
  );
  console.log(
    `  final statuses        ${Object.entries(f.byStatus)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  console.log(`  attempts              ${f.attempts}`);
  console.log(`  server boots          ${server.boots.length}  (${kills} SIGKILLs)`);
  console.log(
    `  undisturbed runs      ${f.undisturbedRuns} compared with their script end to end; ${f.disturbedRuns} with a kill inside checked attempt by attempt`,
  );
  console.log(`  triggers              ${f.triggers} seen by the simulator; ${f.resentTriggers} re-sent on recovery (same Idempotency-Key)`);
  console.log(
    `  callbacks acknowledged ${f.acknowledged.driver + f.acknowledged.simulator}  (${f.acknowledged.driver} by the soak, ${f.acknowledged.simulator} by the simulator); ${f.otherAnswers} other answers; ${lostAnswers} answers lost to a kill and retried`,
  );
  const longestStall = Math.max(0, ...stalls.map((st) => st.to - st.from));
  console.log(
    `  timer fires           ${f.timerFires}  (latest ${f.maxTimerLatenessMs} ms after max(due, restart)${quick ? '; --quick reports lateness, it does not judge it' : ''})`,
  );
  console.log(
    `  machine stalls        ${stalls.length} times the soak itself could not run for > 100 ms (longest ${longestStall} ms); ${f.lateWhileMachineStalled} timers late beyond 1 s during one`,
  );
  console.log(
    `  host slower than a timeout: ${f.slowExternal} attempts timed out with the external answer logged after the timer; ${f.lateBeatLaggingTimer} late callbacks beat a lagging timer`,
  );
  console.log(`  run files replayed    ${f.replayed}\n`);
  let failed = false;
  const row = (ok: boolean, label: string, n: number, note = '') =>
    console.log(`  ${ok ? 'ok  ' : 'FAIL'}  ${String(n).padStart(4)}  ${label}${note ? `  (${note})` : ''}`);
  for (const k of Object.keys(CHECK_LABELS) as CheckName[]) {
    const n = verdict.counts[k];
    failed ||= n > 0;
    row(n === 0, CHECK_LABELS[k], n);
  }
  for (const [label, n, note] of extra) {
    failed ||= n > 0;
    row(n === 0, label, n, note);
  }
  if (failed) {
    console.log('\nFirst violations:');
    for (const v of verdict.violations.slice(0, 25)) console.log(`  [${v.check}] ${v.runId ?? ''} ${v.detail}`);
    for (const e of setupErrors.slice(0, 5)) console.log(`  [setup] ${e}`);
    for (const s of unknownRuns.slice(0, 5)) console.log(`  [unknown] ${s.id} ${s.name}`);
  }
  if (args.json)
    await writeFile(
      args.json,
      JSON.stringify(
        {
          seed: SEED,
          profile: profile.name,
          seconds: Math.round((Date.now() - t0) / 1000),
          launched,
          created: records.size - ambiguousFound,
          ambiguous: ambiguous.length,
          ambiguousFound,
          kills,
          boots: server.boots,
          counts: verdict.counts,
          extra: Object.fromEntries(extra.map(([label, n]) => [label, n])),
          figures: f,
          passed: !failed,
        },
        null,
        2,
      ),
    );
  if (failed || args.keep) console.log(`\nData and server log kept in ${root}`);
  else await rm(root, { recursive: true, force: true });
  console.log(failed ? '\nSOAK FAILED' : '\nSOAK PASSED');
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error('soak aborted:', e);
    process.exit(2);
  },
);
