/**
 * Hostile callers of the webhook: tampered signatures, signatures of other attempts and runs, replays after the run is
 * over, floods of late and forged callbacks, oversized and trickled bodies. Each is answered as docs/callback-protocol.md
 * says, recorded on the run, and changes nothing about it. Real server, real HTTP (raw sockets where fetch is too polite).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CallbackResult, Run, RunEventEntry } from '@tether/machine';
import { FakeExternalSystem } from './helpers/fake-external.ts';
import { ManualClock } from './helpers/manual-clock.ts';
import { serve, type Served, type ServeOptions } from './helpers/fuzz-server.ts';
import { Signer } from '../src/engine/signer.ts';
import type { RunDoc } from '../src/store/types.ts';
import { readDurable } from '../src/store/journal-files.ts';

let ext: FakeExternalSystem;
let clock: ManualClock;
let s: Served;

async function start(opts: ServeOptions = {}): Promise<void> {
  clock = new ManualClock();
  s = await serve({ clock, ...opts });
}
beforeEach(async () => {
  ext = await new FakeExternalSystem().start();
});
afterEach(async () => {
  await s?.close();
  await ext.close();
});

async function awaiting(retryLimit = 2): Promise<Run> {
  const r = await s.send('POST', '/api/runs', { json: { target: { url: ext.url }, timeoutSeconds: 60, retryLimit, backoff: { initialSeconds: 1 } } });
  expect(r.status).toBe(201);
  await s.idle();
  const run = await s.run((r.json as Run).id);
  expect(run.state).toBe('awaitingCallback');
  return run;
}

const doc = async (id: string): Promise<RunDoc> => structuredClone((await s.app.tether.engine.getDoc(id))!);

/**
 * Runs `act`, then checks that the run's state, timers and outbox are exactly as before and that everything `act` added
 * to its log is a recorded refusal, never an applied event. Returns the added entries.
 */
async function leavesRunAlone(runId: string, act: () => Promise<unknown>): Promise<RunEventEntry[]> {
  const before = await doc(runId);
  await act();
  await s.idle();
  const after = await doc(runId);
  expect(after.snapshot).toEqual(before.snapshot);
  expect(after.timers).toEqual(before.timers);
  expect(after.outbox).toEqual(before.outbox);
  const added = after.events.slice(before.events.length);
  expect(added.filter((e) => e.verdict === 'applied' || e.verdict === 'recorded')).toEqual([]);
  return added;
}

const withSig = (url: string, sig: string | null) => {
  const u = new URL(url);
  if (sig === null) u.searchParams.delete('sig');
  else u.searchParams.set('sig', sig);
  return u.toString();
};
const sigOf = (url: string) => new URL(url).searchParams.get('sig')!;

/** Signatures that differ from a valid one only in ways a lenient decoder would forgive. */
function tamperedVariants(sig: string): string[] {
  const flip = (i: number) => sig.slice(0, i) + (sig[i] === 'A' ? 'B' : 'A') + sig.slice(i + 1);
  const sameBytes = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_']
    .map((c) => sig.slice(0, -1) + c)
    .filter((v) => v !== sig && Buffer.from(v, 'base64url').equals(Buffer.from(sig, 'base64url')));
  return [
    flip(0),
    flip(sig.length >> 1),
    flip(sig.length - 1),
    sig.slice(0, -1),
    `${sig}A`,
    `${sig}!`,
    `${sig}=`,
    `${sig}==`,
    `!${sig}`,
    `${sig.slice(0, 10)}.${sig.slice(10)}`,
    sig.toUpperCase(),
    Buffer.from(sig, 'base64url').toString('base64'), // the same bytes as standard base64
    Buffer.from(sig, 'base64url').toString('hex'),
    ...sameBytes, // a different last character whose spare bits decode to the same bytes
    '',
  ];
}

describe('signatures', () => {
  it('a tampered signature is 401 unauthorized, every variant, even those that decode to the same bytes; all recorded: the first at once, the rest in one summary', async () => {
    await start();
    const run = await awaiting();
    const url = run.attempts[0]!.callbackUrl!;
    const variants = tamperedVariants(sigOf(url));
    expect(variants.length).toBeGreaterThan(14);
    expect(variants.length).toBeLessThanOrEqual(s.app.tether.settings.forgedRateLimit); // all within the rate limit: 401, not 429
    const answers: Array<{ status: number; json: unknown }> = [];
    const added = await leavesRunAlone(run.id, async () => {
      for (const v of variants) answers.push(await s.send('POST', withSig(url, v), { json: { success: true } }));
    });
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.json).toMatchObject({ result: 'unauthorized', attemptId: run.attempts[0]!.id });
    }
    // A bad signature is not one durable write each: the first of the interval is recorded at once…
    expect(added).toEqual([
      expect.objectContaining({
        verdict: 'unauthorized',
        httpStatus: 401,
        type: 'callback.received',
        detail: 'Signature does not match this run and attempt.',
      }),
    ]);
    // …and the others are counted, then recorded as one entry when the interval ends.
    const summary = await leavesRunAlone(run.id, async () => clock.advance(s.app.tether.settings.forgedLogIntervalMs));
    expect(summary).toEqual([
      expect.objectContaining({
        verdict: 'unauthorized',
        httpStatus: 401,
        type: 'callback.received',
        attemptId: run.attempts[0]!.id,
        detail: `${variants.length - 1} more callbacks with a bad signature in the last 1 s; the last from attempt ${run.attempts[0]!.id}.`,
      }),
    ]);
    // The genuine signature still works afterwards.
    const ok = await s.send('POST', url, { json: { success: true } });
    expect(ok.json).toMatchObject({ result: 'accepted' });
  });

  it("another attempt's, another run's, and the heartbeat's signature are each 401 on a callback URL", async () => {
    await start();
    const other = await awaiting();
    const run = await awaiting();
    clock.advance(60_000); // attempt 1 times out; backoff 1 s
    await s.idle();
    clock.advance(1_000); // attempt 2 opens
    await s.idle();
    const r = await s.run(run.id);
    const [a1, a2] = r.attempts;
    expect(a2!.state).toBe('AwaitingCallback');
    const forged = [
      withSig(a2!.callbackUrl!, sigOf(a1!.callbackUrl!)), // attempt 1's signature on attempt 2
      withSig(a1!.callbackUrl!, sigOf(a2!.callbackUrl!)), // and the other way round
      withSig(a2!.callbackUrl!, sigOf(other.attempts[0]!.callbackUrl!)), // another run's
      withSig(a2!.callbackUrl!, sigOf(a2!.heartbeatUrl!)), // the heartbeat URL's
    ];
    const answers: number[] = [];
    const added = await leavesRunAlone(run.id, async () => {
      for (const url of forged) {
        answers.push((await s.send('POST', url, { json: { success: true } })).status);
        // One per interval: each is the first of its interval, so each is recorded at once with its own attempt id.
        clock.advance(s.app.tether.settings.forgedLogIntervalMs);
        await s.idle();
      }
    });
    expect(answers).toEqual([401, 401, 401, 401]);
    expect(added.map((e) => [e.verdict, e.httpStatus, e.attemptId])).toEqual([
      ['unauthorized', 401, a2!.id],
      ['unauthorized', 401, a1!.id],
      ['unauthorized', 401, a2!.id],
      ['unauthorized', 401, a2!.id],
    ]);
    // Refusals are recorded on the run the URL names, never on the run whose signature was misused.
    expect((await s.events(other.id)).filter((e) => e.verdict === 'unauthorized')).toEqual([]);
  });

  it('verify accepts exactly the issued text and compares fixed-length digests (constant time)', () => {
    const signer = new Signer(Buffer.from('k'.repeat(40)), 'http://h');
    const sig = signer.sign('run_a', 'att_a_1');
    expect(signer.verify('run_a', 'att_a_1', sig)).toBe(true);
    for (const v of tamperedVariants(sig)) expect(signer.verify('run_a', 'att_a_1', v), JSON.stringify(v)).toBe(false);
    expect(signer.verify('run_a', 'att_a_2', sig)).toBe(false);
    expect(signer.verify('run_b', 'att_a_1', sig)).toBe(false);
    expect(signer.verify('run_a', 'att_a_1', sig, 'heartbeat')).toBe(false);
    expect(signer.verify('run_a', 'att_a_1', signer.sign('run_a', 'att_a_1', 'heartbeat'), 'heartbeat')).toBe(true);
    for (const v of [undefined, null, 42, ['x'], 'x'.repeat(257)]) expect(signer.verify('run_a', 'att_a_1', v)).toBe(false);
    // Review (timing cannot be asserted on a shared machine): verify() computes the expected signature text and compares
    // it with the given text by crypto.timingSafeEqual; the only early returns depend on the given text's type and
    // length (43 ASCII characters, public), never on a byte of the secret MAC.
    expect(Signer.prototype.verify.toString()).toMatch(/timingSafeEqual\b/);
    expect(Signer.prototype.verify.toString()).not.toMatch(/===\s*expected|expected\s*===|\.equals\(/);
  });
});

describe('replays and floods', () => {
  it('an accepted callback replayed after the run finished is a duplicate; altered, a conflict; for a timed-out attempt, late', async () => {
    await start();
    const run = await awaiting();
    const a1 = run.attempts[0]!;
    clock.advance(60_000);
    await s.idle();
    clock.advance(1_000);
    await s.idle();
    const a2 = (await s.run(run.id)).attempts[1]!;
    const body = { success: true, message: 'done', output: { rows: 3, nested: { é: ['ü', 1] } } };
    const first = await s.send('POST', a2.callbackUrl!, { json: body });
    expect(first.json).toMatchObject({ result: 'accepted' });
    expect((await s.run(run.id)).status).toBe('succeeded');

    const answers: CallbackResult[] = [];
    const added = await leavesRunAlone(run.id, async () => {
      answers.push((await s.send('POST', a2.callbackUrl!, { json: body })).json as CallbackResult);
      // The same JSON with its keys reordered is the same callback.
      answers.push(
        (
          await s.send('POST', a2.callbackUrl!, {
            body: '{"output":{"nested":{"é":["ü",1]},"rows":3},"message":"done","success":true}',
            headers: { 'content-type': 'application/json' },
          })
        ).json as CallbackResult,
      );
      answers.push((await s.send('POST', a2.callbackUrl!, { json: { success: false, message: 'done' } })).json as CallbackResult);
      answers.push((await s.send('POST', a1.callbackUrl!, { json: body })).json as CallbackResult);
      answers.push((await s.send('POST', a1.heartbeatUrl!, { json: { progress: 1 } })).json as CallbackResult);
    });
    expect(answers.map((a) => a.result)).toEqual(['duplicate', 'duplicate', 'conflict', 'late', 'late']);
    expect(answers[3]).toMatchObject({ attemptId: a1.id, attemptState: 'TimedOut', endedAt: a1.timeoutDue });
    expect(added.map((e) => [e.type, e.verdict, e.httpStatus])).toEqual([
      ['callback.received', 'duplicate', 200],
      ['callback.received', 'duplicate', 200],
      ['callback.received', 'conflict', 409],
      ['callback.received', 'late', 410],
      ['heartbeat.received', 'late', 410],
    ]);
  });

  it('a flood of late and forged callbacks keeps the run log bounded; every one answered, the run unchanged', async () => {
    const LIMIT = 25;
    await start({ build: { maxRejectedPerRun: LIMIT } });
    const run = await awaiting(0);
    clock.advance(60_000); // the only attempt times out: the run fails, and every callback from now on is late
    await s.idle();
    expect((await s.run(run.id)).status).toBe('failed');
    // The run's durable document (its newest journal line, else its run file), as a fresh start would read it.
    const durableSize = async () => JSON.stringify(await readDurable(s.dataDir, run.id)).length;
    const kept = (await doc(run.id)).events.length;
    const statuses: number[] = [];
    const flood = async (n: number) => {
      for (let i = 0; i < n; i += 20) {
        const batch = Array.from({ length: Math.min(20, n - i) }, (_, j) =>
          (i + j) % 3 === 0
            ? s.send('POST', withSig(run.attempts[0]!.callbackUrl!, `forged${i + j}`), { json: { success: true } })
            : s.send('POST', run.attempts[0]!.callbackUrl!, { json: { success: false, message: `late #${i + j}` } }),
        );
        statuses.push(...(await Promise.all(batch)).map((a) => a.status));
      }
    };
    await leavesRunAlone(run.id, () => flood(60));
    const sizeAt60 = await durableSize();
    await leavesRunAlone(run.id, () => flood(140));
    const events = (await doc(run.id)).events;
    expect(statuses).toHaveLength(200);
    // 133 late callbacks (validly signed: never rate limited); 67 forged: 20 answered 401 (TETHER_FORGED_RATE_LIMIT), the
    // rest 429 rate_limited, all within one interval of the frozen clock.
    const count = (st: number) => statuses.filter((x) => x === st).length;
    expect([count(410), count(401), count(429)]).toEqual([133, s.app.tether.settings.forgedRateLimit, 67 - s.app.tether.settings.forgedRateLimit]);
    expect(events.length).toBe(kept + LIMIT);
    expect(events.at(-1)!.detail).toMatch(new RegExp(`more rejected requests were not kept \\(limit ${LIMIT} per run\\)`));
    // The document stopped growing once the cap was reached (only the folded entry's text changes).
    expect(await durableSize()).toBeLessThan(sizeAt60 + 200);
    expect(await readDurable(s.dataDir, run.id)).toEqual(await doc(run.id));
    expect((await s.run(run.id)).status).toBe('failed');
  });
});

describe('bad signatures at shutdown', () => {
  it('those only counted when the server stops are recorded before it does (one summary), and survive the restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tether-forged-close-'));
    await start({ dataDir: dir });
    const run = await awaiting();
    const url = run.attempts[0]!.callbackUrl!;
    for (let i = 0; i < 5; i++) expect((await s.send('POST', withSig(url, `forged${i}`), { json: { success: true } })).status).toBe(401);
    clock.advance(300); // inside the interval: nothing but the first is recorded yet
    await s.idle();
    expect((await s.events(run.id)).filter((e) => e.verdict === 'unauthorized')).toHaveLength(1);
    await s.close();

    s = await serve({ clock, dataDir: dir });
    const refused = (await s.events(run.id)).filter((e) => e.verdict === 'unauthorized');
    expect(refused.map((e) => [e.httpStatus, e.detail])).toEqual([
      [401, 'Signature does not match this run and attempt.'],
      [401, `4 more callbacks with a bad signature in the last 0.3 s; the last from attempt ${run.attempts[0]!.id}.`],
    ]);
    await s.close();
    s = undefined as unknown as Served; // closed here: the data dir is this test's own
    await rm(dir, { recursive: true, force: true });
  });
});

describe('bodies', () => {
  it('over the limit is 413 invalid and recorded, with or without a Content-Length; a small callback then works', async () => {
    await start({ env: { TETHER_BODY_LIMIT: '2048' } });
    const run = await awaiting();
    const url = run.attempts[0]!.callbackUrl!;
    const big = JSON.stringify({ success: true, message: 'x'.repeat(4000) });
    const chunked = () =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new ReadableStream({
          start(c) {
            for (let i = 0; i < 8; i++) c.enqueue(new TextEncoder().encode(i === 0 ? '{"success":true,"message":"' : 'y'.repeat(1000)));
            c.close();
          },
        }),
        duplex: 'half',
      } as RequestInit & { duplex: 'half' });
    const answers: Array<{ status: number; body: unknown }> = [];
    const added = await leavesRunAlone(run.id, async () => {
      const a = await s.send('POST', url, { body: big, headers: { 'content-type': 'application/json' } });
      answers.push({ status: a.status, body: a.json });
      const b = await chunked();
      answers.push({ status: b.status, body: await b.json() });
    });
    for (const a of answers)
      expect(a).toEqual({ status: 413, body: { result: 'invalid', attemptId: run.attempts[0]!.id, message: 'body is larger than the limit' } });
    expect(added.map((e) => [e.verdict, e.httpStatus])).toEqual([
      ['invalid', 413],
      ['invalid', 413],
    ]);
    expect((await s.send('POST', url, { json: { success: true, message: 'small' } })).json).toMatchObject({ result: 'accepted' });
  });

  it('a client trickling its body is cut off by the request timeout instead of holding the webhook forever', async () => {
    await start({ build: { requestTimeoutMs: 600 } });
    const run = await awaiting();
    const u = new URL(run.attempts[0]!.callbackUrl!);
    const before = await doc(run.id);
    const socket = connect(Number(u.port), u.hostname);
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString('utf8')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"succ`);
    // One byte every 100 ms: it would take 20 s to finish; the server must not wait for it.
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 100);
    const bound = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 10_000));
    const outcome = await Promise.race([closed.then(() => 'closed' as const), bound]);
    clearInterval(trickle);
    socket.destroy();
    expect(outcome).toBe('closed');
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    // Recorded once the server has seen the connection go: a bound, not a sleep.
    let added: RunEventEntry[] = [];
    for (const until = Date.now() + 5_000; added.length === 0 && Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
      await s.idle();
      added = (await doc(run.id)).events.slice(before.events.length);
    }
    expect(added.map((e) => [e.type, e.verdict, e.httpStatus])).toEqual([['callback.received', 'invalid', 408]]);
    expect(added[0]!.detail).toMatch(/did not arrive in full/);
    expect((await doc(run.id)).snapshot).toEqual(before.snapshot);
    // The webhook still answers others at once.
    expect((await s.send('POST', run.attempts[0]!.callbackUrl!, { json: { success: true } })).json).toMatchObject({ result: 'accepted' });
  });

  it('the request timeout is on by default (30 s), not undone by the headers timeout, and swept often enough', async () => {
    await start();
    const server = s.app.server as typeof s.app.server & { connectionsCheckingInterval: number };
    expect(server.requestTimeout).toBe(30_000);
    expect(server.headersTimeout).toBeLessThanOrEqual(server.requestTimeout);
    expect(server.connectionsCheckingInterval).toBeLessThanOrEqual(5_000);
  });
});
