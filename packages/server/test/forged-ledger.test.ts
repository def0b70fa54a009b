/**
 * The bad-signature ledger on its own, driven by a ManualClock: what it records per interval under a sustained flood,
 * and that its memory stays bounded however many runs and addresses a flood names.
 */
import { describe, expect, it } from 'vitest';
import { ForgedLedger, type ForgedEntry } from '../src/plugins/forged-ledger.ts';
import { ManualClock } from './helpers/manual-clock.ts';

function ledger(opts: { maxRuns?: number; maxClients?: number; limit?: number } = {}) {
  const clock = new ManualClock();
  const recorded: Array<{ runId: string; entry: ForgedEntry }> = [];
  const warnings: string[] = [];
  const l = new ForgedLedger({
    clock,
    intervalMs: 1000,
    limit: opts.limit ?? 20,
    record: async (runId, entry) => void recorded.push({ runId, entry }),
    logger: { warn: (_obj, msg) => void warnings.push(msg ?? '') },
    ...(opts.maxRuns !== undefined ? { maxRuns: opts.maxRuns } : {}),
    ...(opts.maxClients !== undefined ? { maxClients: opts.maxClients } : {}),
  });
  const forge = (runId: string, client = '10.0.0.1', attemptId = `att_${runId.slice(4)}_1`) =>
    l.refuse({ runId, attemptId, type: 'callback.received', client, detail: 'Signature does not match this run and attempt.' });
  return { l, clock, recorded, warnings, forge };
}

describe('ForgedLedger', () => {
  it('a sustained flood records two entries per run per interval (the first, then the summary), whatever its rate', async () => {
    const { clock, recorded, forge } = ledger({ limit: 1_000_000 });
    for (let interval = 0; interval < 3; interval++) {
      for (let i = 0; i < 300; i++) await forge('run_a', `10.0.${interval}.${i % 7}`);
      clock.advance(1000);
    }
    expect(recorded.map((r) => r.entry.detail)).toEqual([
      'Signature does not match this run and attempt.',
      '299 more callbacks with a bad signature in the last 1 s; the last from attempt att_a_1.',
      'Signature does not match this run and attempt.',
      '299 more callbacks with a bad signature in the last 1 s; the last from attempt att_a_1.',
      'Signature does not match this run and attempt.',
      '299 more callbacks with a bad signature in the last 1 s; the last from attempt att_a_1.',
    ]);
  });

  it('tracks at most maxRuns runs: the rest are counted in one shared window, logged, never recorded on a run', async () => {
    const { l, clock, recorded, warnings, forge } = ledger({ maxRuns: 3, limit: 1_000_000 });
    for (let i = 0; i < 100; i++) await forge(`run_${i}`, `10.0.0.${i % 5}`);
    expect(l.trackedRuns).toBe(3);
    expect(recorded.map((r) => r.runId)).toEqual(['run_0', 'run_1', 'run_2']);
    clock.advance(1000);
    expect(l.trackedRuns).toBe(0);
    expect(recorded).toHaveLength(3); // the tracked runs had nothing more to summarise
    expect(warnings).toEqual(['97 callbacks with a bad signature in the last 1 s to runs beyond the 3 tracked at once; not recorded on their runs']);
  });

  it('tracks at most maxClients addresses: the rest share one window and its limit; expired ones are swept', async () => {
    const { l, clock, forge } = ledger({ maxClients: 2, limit: 3 });
    expect((await forge('run_a', '10.0.0.1')).status).toBe(401);
    expect((await forge('run_b', '10.0.0.2')).status).toBe(401);
    // Two more addresses: beyond the cap, they share one window, so together they reach the limit of one.
    const shared = [];
    for (let i = 0; i < 4; i++) shared.push((await forge(`run_c${i}`, `10.0.1.${i}`)).status);
    expect(shared).toEqual([401, 401, 401, 429]);
    expect(l.trackedClients).toBe(2);
    clock.advance(1000);
    // The old windows expired: a new address takes a swept slot and has its own limit again.
    expect((await forge('run_d', '10.0.2.1')).status).toBe(401);
    expect(l.trackedClients).toBeLessThanOrEqual(2);
  });
});
