/**
 * The chaos soak in CI: `scripts/soak.ts --quick` as a child process (40 runs against the simulator, 3 SIGKILLs of a
 * real server child, every check), which must exit 0. First, the checks themselves: each must catch its violation when
 * one is planted in an otherwise correct outcome, or a passing soak would prove nothing.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CheckName, SoakEvidence } from './helpers/soak-checks.ts';
import { judgeSoak } from './helpers/soak-checks.ts';
import { cleanEvidence } from './helpers/soak-fixture.ts';
import { SERVER_PACKAGE_DIR } from './helpers/soak-server.ts';

const only = (ev: SoakEvidence): Partial<Record<CheckName, number>> =>
  Object.fromEntries(Object.entries(judgeSoak(ev).counts).filter(([, n]) => n > 0));
const theRun = (ev: SoakEvidence) => [...ev.served.values()][0]!;
const theDoc = (ev: SoakEvidence) => [...ev.files.values()][0]!;

describe('the soak checks', () => {
  it('find nothing wrong with a correct outcome', () => {
    const verdict = judgeSoak(cleanEvidence());
    expect(verdict.violations).toEqual([]);
    expect(verdict.figures).toMatchObject({ runs: 1, undisturbedRuns: 1, attempts: 2, timerFires: 2, replayed: 1 });
  });

  it('catch a run the server no longer knows', () => {
    const ev = cleanEvidence();
    ev.served.set(ev.records[0]!.runId, null);
    expect(only(ev)).toEqual({ lost: 1 });
  });

  it('catch a run left running', () => {
    const ev = cleanEvidence();
    Object.assign(theRun(ev).run, { status: 'running', state: 'awaitingCallback' });
    expect(only(ev).notFinal).toBe(1);
  });

  it('catch a run that ended otherwise than its script says', () => {
    const ev = cleanEvidence();
    ev.records[0]!.script.outcomes = ['never', 'failure'];
    expect(only(ev)).toEqual({ script: 1 });
  });

  it('catch a success that a kill cannot explain away, but accept a timeout it can', () => {
    const ev = cleanEvidence();
    ev.records[0]!.script.outcomes = ['success', 'success'];
    expect(only(ev)).toEqual({ script: 1 });
    const start = Date.parse(theRun(ev).run.attempts[0]!.started);
    ev.boots.unshift({
      n: 0,
      pid: 0,
      spawnedAt: start - 9000,
      upAt: start - 8000,
      killedAt: start + 500,
      exit: { code: null, signal: 'SIGKILL', at: start + 501 },
      expected: true,
    });
    expect(only(ev)).toEqual({});
  });

  it('excuse a timeout that abandoned its unanswered trigger (the host was slower than the timeout), not one that did not', () => {
    const ev = cleanEvidence();
    ev.records[0]!.script.outcomes = ['success', 'success'];
    expect(only(ev)).toEqual({ script: 1 });
    const timeout = theRun(ev).events.find((e) => e.source === 'timer')!;
    timeout.detail = `${timeout.detail} The trigger for attempt 1 had no answer yet: abandoned, never re-sent.`;
    expect(only(ev)).toEqual({});
  });

  it('excuse a timeout whose external answer came after the deadline, even when it was logged just before the lagging timer', () => {
    const ev = cleanEvidence();
    ev.records[0]!.script.outcomes = ['success', 'success'];
    const { run, events } = theRun(ev);
    const timeout = events.find((e) => e.source === 'timer')!;
    const a1 = run.attempts[0]!;
    // The late answer, stamped at the deadline, committed one seq before the timer's own entry.
    events.splice(events.indexOf(timeout), 0, {
      ...timeout,
      type: 'callback.received',
      source: 'callback',
      verdict: 'late',
      httpStatus: 410,
      attemptId: a1.id,
      at: a1.timeoutDue,
      detail: 'late',
    });
    events.forEach((e, i) => (e.seq = i));
    expect(only(ev)).toEqual({});
    // Before the deadline it is no excuse.
    events.find((e) => e.verdict === 'late')!.at = new Date(Date.parse(a1.timeoutDue) - 1).toISOString();
    expect(only(ev)).toEqual({ script: 1 });
  });

  it("in 'report' mode (the quick soak in pnpm test) a late timer is a figure, an early one still a violation", () => {
    const ev = cleanEvidence();
    ev.timerLateness = 'report';
    const timer = theRun(ev).events.find((e) => e.source === 'timer')!;
    const due = Date.parse(/Timer due (\S+) fired/.exec(timer.detail!)![1]!);
    timer.at = new Date(due + 5000).toISOString();
    expect(only(ev).timerLate).toBeUndefined();
    expect(judgeSoak(ev).figures.maxTimerLatenessMs).toBeGreaterThanOrEqual(5000);
    timer.at = new Date(due - 5).toISOString();
    expect(only(ev).timerLate).toBe(1);
  });

  it('catch more attempts than 1 + retryLimit', () => {
    const ev = cleanEvidence();
    ev.records[0]!.script.retryLimit = 0;
    expect(only(ev).beyondRetryLimit).toBe(1);
  });

  it('catch an attempt settled twice, and two acknowledgements of one attempt', () => {
    const ev = cleanEvidence();
    const events = theRun(ev).events;
    const settle = events.find((e) => e.type === 'callback.received')!;
    events.push({ ...settle, seq: events.length });
    expect(only(ev)).toEqual({ appliedTwice: 1 });

    const ev2 = cleanEvidence();
    ev2.answers.push({ ...ev2.answers[0]! });
    expect(only(ev2)).toMatchObject({ appliedTwice: 1, ackMissing: 1 });
  });

  it('catch an acknowledged callback missing from the log, and a lost duplicate answer', () => {
    const ev = cleanEvidence();
    const { events } = theRun(ev);
    events.splice(
      events.findIndex((e) => e.type === 'callback.received'),
      1,
    );
    expect(only(ev).ackMissing).toBe(1);

    const ev2 = cleanEvidence();
    ev2.answers.push({ ...ev2.answers[0]!, result: 'duplicate' });
    expect(only(ev2)).toEqual({ answerMissing: 1 });
  });

  it('catch a timer fired more than 1 s late, or early; a restart excuses the downtime only', () => {
    const ev = cleanEvidence();
    const timer = theRun(ev).events.find((e) => e.source === 'timer')!;
    const due = Date.parse(/Timer due (\S+) fired/.exec(timer.detail!)![1]!);
    timer.at = new Date(due + 1500).toISOString();
    expect(only(ev).timerLate).toBe(1);
    // The server came back 1.2 s after the due time: firing 0.3 s after that is on time.
    ev.boots.push({ n: 2, pid: 2, spawnedAt: due + 100, upAt: due + 1200, killedAt: null, exit: null, expected: false });
    expect(only(ev).timerLate).toBeUndefined();
    timer.at = new Date(due - 5).toISOString();
    expect(only(ev).timerLate).toBe(1);
  });

  it('excuse a late timer only when the soak itself stalled as long over the same span', () => {
    const ev = cleanEvidence();
    const timer = theRun(ev).events.find((e) => e.source === 'timer')!;
    const due = Date.parse(/Timer due (\S+) fired/.exec(timer.detail!)![1]!);
    timer.at = new Date(due + 1500).toISOString();
    ev.stalls = [{ from: due + 100, to: due + 400 }]; // 300 ms: less than the 500 ms beyond tolerance
    expect(only(ev).timerLate).toBe(1);
    ev.stalls = [{ from: due + 100, to: due + 700 }];
    expect(only(ev).timerLate).toBeUndefined();
    expect(judgeSoak(ev).figures.lateWhileMachineStalled).toBe(1);
    ev.stalls = [{ from: due + 2000, to: due + 5000 }]; // a stall after the fact explains nothing
    expect(only(ev).timerLate).toBe(1);
  });

  it('catch a run file whose log does not replay to its snapshot', () => {
    const ev = cleanEvidence();
    theDoc(ev).snapshot.context.attempts[0]!.state = 'CallbackFailure';
    expect(only(ev)).toEqual({ replay: 1 });
  });

  it('catch a trigger with the wrong Idempotency-Key, and a server that died by itself', () => {
    const ev = cleanEvidence();
    ev.triggers[1]!.idempotencyKey = 'att_other_1';
    ev.boots[0]!.expected = false;
    expect(only(ev)).toEqual({ idempotencyKey: 1, crashed: 1 });
  });
});

describe('pnpm soak --quick', () => {
  it('launches 40 runs, SIGKILLs the server 3 times, and every check passes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-soak-test-'));
    const json = join(dir, 'soak.json');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak.ts', '--quick', '--json', json], {
        cwd: SERVER_PACKAGE_DIR,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code, output).toBe(0);
      const result = JSON.parse(await readFile(json, 'utf8')) as {
        passed: boolean;
        kills: number;
        launched: number;
        created: number;
        ambiguous: number;
        ambiguousFound: number;
        counts: Record<string, number>;
        extra: Record<string, number>;
        figures: { runs: number; replayed: number; attempts: number; timerFires: number };
      };
      expect(result.passed).toBe(true);
      expect(result.kills).toBeGreaterThanOrEqual(3);
      // 40 answered 201; every other launch lost its answer to a kill (then it may or may not exist).
      expect(result.created).toBe(40);
      expect(result.launched).toBe(result.created + result.ambiguous);
      expect(result.figures.runs).toBe(result.created + result.ambiguousFound);
      expect(result.figures.replayed).toBe(result.figures.runs);
      expect(result.figures.timerFires).toBeGreaterThan(0);
      expect(
        Object.values(result.counts).every((n) => n === 0),
        JSON.stringify(result.counts),
      ).toBe(true);
      expect(
        Object.values(result.extra).every((n) => n === 0),
        JSON.stringify(result.extra),
      ).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
