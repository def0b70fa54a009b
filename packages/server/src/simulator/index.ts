/**
 * The built-in simulator: an external system in the same process, so a newcomer sees the whole pattern with no other
 * service. `POST /simulator/jobs` takes Tether's trigger body and behaves as `payload.simulate` says, calling back over
 * real HTTP to this server's own webhook.
 *
 *   simulate: { outcome?: Outcome, delaySeconds?: number, perAttempt?: Outcome[] }
 *   success | failure   202, then the callback after delaySeconds (default 1); `retryable: false` goes with failures
 *   never               202, no callback
 *   triggerError        500 to the trigger itself
 *   late                202, callback delaySeconds (default 1) AFTER the attempt's timeoutDue → answered 410
 *   duplicate           202, the same success callback twice → 200 accepted, then 200 duplicate
 *   early               the success callback is sent and answered BEFORE the trigger gets its 202
 *
 * It is not an open relay. A trigger is taken only if its `callbackUrl` is one this server signed for the body's
 * runId/attemptId: this server's public origin, path `/api/callbacks/<runId>/<attemptId>`, a `sig` that verifies
 * (constant time, with the Signer). Anything else is answered 400 and nothing is fetched; and even a verified URL is
 * not fetched as given: the callback goes to the URL rebuilt by the Signer, so no trigger can make this server call an
 * address of its choosing. `heartbeatUrl` is never used, so never fetched.
 *
 * With TETHER_API_TOKEN set, every route needs the token like the API — except that `POST /jobs` is also accepted
 * without it when its callbackUrl verifies as above: the engine's own triggers carry only the run's `target.headers`,
 * never the server's token, and the signature already authenticates the trigger. That admits no one new: whoever holds
 * a signed callback URL can already post to it directly. `GET /jobs` always needs the token when one is set.
 *
 * Bounded: a delayed callback holds only what it needs to be sent (ids, attempt number, outcome, delay, retryable),
 * never the trigger body or its payload; at most TETHER_SIMULATOR_MAX_PENDING are held at once (beyond: 429
 * TETHER_SIMULATOR_BUSY); the jobs list keeps the last 500, each with only the status and `result` word of the
 * webhook's answers. Its timers run on the engine's clock, so tests that skip time skip the simulator's too.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  SIMULATOR_OUTCOMES,
  SimulatorJobList,
  TriggerBody,
  type SimulateSpec,
  type SimulatorJob,
  type SimulatorOutcome,
} from '@tether/machine/protocol';
import type { Signer } from '../engine/signer.ts';
import { requestToken, requireToken, tokenMatches } from '../plugins/auth.ts';
import { toErrorBody } from '../plugins/errors.ts';

/**
 * Tether's trigger body, except that `heartbeatUrl` may be missing: the simulator never calls it, and a trigger is
 * authenticated by its signed `callbackUrl` alone (see the header comment).
 */
const SimulatorTrigger = Type.Object({ ...TriggerBody.properties, heartbeatUrl: Type.Optional(TriggerBody.properties.heartbeatUrl) });

export function outcomeFor(spec: SimulateSpec | undefined, attempt: number): SimulatorOutcome {
  const list = spec?.perAttempt;
  if (list && list.length) return (list[Math.min(attempt, list.length) - 1] ?? 'success') as SimulatorOutcome;
  return (spec?.outcome ?? 'success') as SimulatorOutcome;
}

const isOutcome = (o: unknown): o is SimulatorOutcome => typeof o === 'string' && (SIMULATOR_OUTCOMES as readonly string[]).includes(o);

/** The webhook's verdict word (`accepted`, `late`…); anything else it might answer is not kept. */
const RESULT_WORD = /^[a-z_]{1,32}$/;
/** The jobs list keeps the newest this many. */
export const MAX_JOBS = 500;

export type CallbackUrlCheck = { ok: true } | { ok: false; reason: string };

/**
 * Whether `given` is the callback URL this server signed for (runId, attemptId): the Signer's own URL for them, same
 * origin and path, one `sig` parameter that verifies, nothing else. Even then the text given is not what is called:
 * callbacks rebuild the URL from the ids (`callBack`). Reasons name the field and the rule, never repeat the given URL
 * or signature.
 */
export function checkCallbackUrl(signer: Signer, runId: string, attemptId: string, given: unknown): CallbackUrlCheck {
  if (typeof given !== 'string') return { ok: false, reason: 'callbackUrl must be a string' };
  let u: URL;
  try {
    u = new URL(given);
  } catch {
    return { ok: false, reason: 'callbackUrl is not a URL' };
  }
  const expected = new URL(signer.callbackUrl(runId, attemptId));
  if (u.origin !== expected.origin)
    return { ok: false, reason: `callbackUrl must point at this server (${expected.origin}); the simulator calls back nowhere else` };
  if (u.username || u.password || u.hash) return { ok: false, reason: 'callbackUrl must not carry credentials or a fragment' };
  if (u.pathname !== expected.pathname)
    return { ok: false, reason: "callbackUrl must be this server's callback URL for the body's runId and attemptId" };
  const params = [...u.searchParams.keys()];
  if (params.length !== 1 || params[0] !== 'sig') return { ok: false, reason: 'callbackUrl must carry exactly one query parameter, sig' };
  if (!signer.verify(runId, attemptId, u.searchParams.get('sig')))
    return { ok: false, reason: "callbackUrl is not signed by this server for the body's runId and attemptId" };
  return { ok: true };
}

type Job = SimulatorJob;

/** A callback waiting for its time: only what is needed to send it, not the trigger body. */
interface Pending {
  runId: string;
  attemptId: string;
  attempt: number;
  outcome: 'success' | 'failure' | 'duplicate' | 'late';
  delayMs: number;
  retryable: boolean;
  /** Where its answers are recorded: the job's entry in the list (ids and small fields only). */
  job: Job;
}

const simulator: FastifyPluginAsyncTypebox = async (app) => {
  const { engine, signer, settings, clock } = app.tether;
  const maxPending = settings.simulatorMaxPending;
  const pending = new Map<unknown, Pending>();
  const jobs: Job[] = [];
  let closed = false;
  const iso = () => new Date(clock.now()).toISOString();

  app.addHook('onClose', async () => {
    closed = true;
    for (const handle of pending.keys()) clock.clearTimer(handle);
    pending.clear();
  });

  const later = (p: Pending, ms: number) => {
    const handle = clock.setTimer(() => {
      pending.delete(handle);
      if (!closed) void fire(p);
    }, ms);
    pending.set(handle, p);
  };

  const success = (attempt: number) => ({
    success: true,
    message: `Simulated job for attempt ${attempt} succeeded.`,
    output: { simulated: true, attempt },
  });

  /** Posts to our own webhook for the attempt, at the URL the Signer builds; records status and verdict only. */
  const callBack = async (job: Job, body: unknown) => {
    const url = signer.callbackUrl(job.runId, job.attemptId);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        redirect: 'manual',
      });
      const answer = (await res.json().catch(() => null)) as { result?: unknown } | null;
      const result = typeof answer?.result === 'string' && RESULT_WORD.test(answer.result) ? answer.result : null;
      job.callbacks.push({ at: iso(), status: res.status, result });
    } catch {
      job.callbacks.push({ at: iso(), status: null, result: null });
    }
  };

  const fire = async (p: Pending) => {
    switch (p.outcome) {
      case 'success':
      case 'late':
        return callBack(p.job, success(p.attempt));
      case 'failure':
        return callBack(p.job, {
          success: false,
          message: `Simulated job for attempt ${p.attempt} failed.`,
          ...(p.retryable ? {} : { retryable: false }),
        });
      case 'duplicate':
        await callBack(p.job, success(p.attempt));
        return callBack(p.job, success(p.attempt));
    }
  };

  const token = settings.apiToken;
  const tokenGate = requireToken(token);

  app.post(
    '/jobs',
    {
      schema: {
        operationId: 'createSimulatorJob',
        summary: 'Simulated external system: accepts a Tether trigger',
        description:
          "Behaves as the run's `payload.simulate` (SimulateSpec) says. Needs the API token when one is set, unless the body's `callbackUrl` is one this server signed for its runId and attemptId.",
        body: SimulatorTrigger,
        tags: ['simulator'],
        security: [{ bearerAuth: [] }, {}],
      },
      // Parsed, not yet validated: the body's signed callbackUrl may stand in for the token (see the header comment).
      preValidation: async (req, reply) => {
        if (token === null || tokenMatches(token, requestToken(req))) return;
        const b = req.body as { runId?: unknown; attemptId?: unknown; callbackUrl?: unknown } | null | undefined;
        if (
          b &&
          typeof b === 'object' &&
          typeof b.runId === 'string' &&
          typeof b.attemptId === 'string' &&
          checkCallbackUrl(signer, b.runId, b.attemptId, b.callbackUrl).ok
        )
          return;
        return tokenGate(req, reply);
      },
    },
    async (req, reply) => {
      const b = req.body;
      const checked = checkCallbackUrl(signer, b.runId, b.attemptId, b.callbackUrl);
      if (!checked.ok) return reply.code(400).send(toErrorBody('TETHER_SIMULATOR_CALLBACK_REFUSED', checked.reason));

      const spec = ((b.payload as { simulate?: SimulateSpec } | null | undefined)?.simulate ?? undefined) as SimulateSpec | undefined;
      const outcome: unknown = outcomeFor(spec, b.attempt);
      // The payload is the run creator's, unchecked until here: only known outcomes and sane delays go any further.
      if (!isOutcome(outcome)) {
        return reply
          .code(400)
          .send(toErrorBody('TETHER_VALIDATION', `payload.simulate outcome must be one of ${SIMULATOR_OUTCOMES.map((o) => `"${o}"`).join(', ')}`));
      }
      const d = spec?.delaySeconds;
      const delayMs = Math.round((typeof d === 'number' && Number.isFinite(d) && d >= 0 ? Math.min(d, 3600) : 1) * 1000);
      const delayed = outcome === 'success' || outcome === 'failure' || outcome === 'duplicate' || outcome === 'late';
      if (delayed && pending.size >= maxPending) {
        return reply
          .code(429)
          .header('retry-after', '1')
          .send(
            toErrorBody(
              'TETHER_SIMULATOR_BUSY',
              `The simulator already holds ${pending.size} delayed callbacks, its cap (TETHER_SIMULATOR_MAX_PENDING=${maxPending}); retry later.`,
            ),
          );
      }

      const key = req.headers['idempotency-key'];
      const job: Job = {
        receivedAt: iso(),
        runId: b.runId,
        attemptId: b.attemptId,
        attempt: b.attempt,
        outcome,
        idempotencyKey: typeof key === 'string' ? key.slice(0, 200) : null,
        callbacks: [],
      };
      jobs.push(job);
      if (jobs.length > MAX_JOBS) jobs.shift();

      switch (outcome) {
        case 'triggerError':
          return reply.code(500).send({ error: 'simulated trigger error' });
        case 'never':
          break;
        case 'success':
        case 'failure':
        case 'duplicate':
          later({ runId: b.runId, attemptId: b.attemptId, attempt: b.attempt, outcome, delayMs, retryable: spec?.retryable !== false, job }, delayMs);
          break;
        case 'late': {
          const run = await engine.getRun(b.runId);
          const attempt = run?.attempts.find((a) => a.id === b.attemptId);
          const now = clock.now();
          const due = attempt ? Date.parse(attempt.timeoutDue) : now;
          later(
            { runId: b.runId, attemptId: b.attemptId, attempt: b.attempt, outcome, delayMs, retryable: true, job },
            Math.max(0, due - now) + delayMs,
          );
          break;
        }
        case 'early':
          // Fire the callback and wait for its answer before acknowledging the trigger.
          await callBack(job, success(b.attempt));
          break;
      }
      return reply.code(202).send({ accepted: true, outcome });
    },
  );

  app.get(
    '/jobs',
    {
      onRequest: tokenGate,
      schema: {
        operationId: 'listSimulatorJobs',
        summary: `What the simulator received (newest last, at most ${MAX_JOBS})`,
        tags: ['simulator'],
        security: [{ bearerAuth: [] }],
        response: { 200: SimulatorJobList },
      },
    },
    async () => ({ jobs }),
  );
};

export default simulator;
