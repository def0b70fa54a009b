/**
 * The built-in simulator: an external system in the same process, so a newcomer sees the whole pattern with no other
 * service. `POST /simulator/jobs` takes Tether's trigger body and behaves as `payload.simulate` says, calling back over
 * real HTTP to the signed callback URL.
 *
 *   simulate: { outcome?: Outcome, delaySeconds?: number, perAttempt?: Outcome[] }
 *   success | failure   202, then the callback after delaySeconds (default 1); `retryable: false` goes with failures
 *   never               202, no callback
 *   triggerError        500 to the trigger itself
 *   late                202, callback delaySeconds (default 1) AFTER the attempt's timeoutDue → answered 410
 *   duplicate           202, the same success callback twice → 200 accepted, then 200 duplicate
 *   early               the success callback is sent and answered BEFORE the trigger gets its 202
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static } from 'typebox';

export const SIMULATOR_OUTCOMES = ['success', 'failure', 'never', 'triggerError', 'late', 'duplicate', 'early'] as const;
const Outcome = Type.Union(SIMULATOR_OUTCOMES.map((o) => Type.Literal(o)) as never as ReturnType<typeof Type.Literal<'success'>>[]);

export const SimulateSpec = Type.Object(
  {
    outcome: Type.Optional(Outcome),
    delaySeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'Seconds before the callback. @default 1' })),
    perAttempt: Type.Optional(Type.Array(Outcome, { maxItems: 100, description: 'Outcome per attempt number; the last repeats.' })),
    retryable: Type.Optional(Type.Boolean({ description: "Sent with 'failure' callbacks: false makes the run fail at once. @default true" })),
  },
  { additionalProperties: true },
);
export type SimulateSpec = Static<typeof SimulateSpec>;
type OutcomeName = (typeof SIMULATOR_OUTCOMES)[number];

const TriggerBody = Type.Object({
  runId: Type.String(),
  attemptId: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  callbackUrl: Type.String(),
  heartbeatUrl: Type.Optional(Type.String()),
  payload: Type.Optional(Type.Unknown()),
});

export function outcomeFor(spec: SimulateSpec | undefined, attempt: number): OutcomeName {
  const list = spec?.perAttempt;
  if (list && list.length) return (list[Math.min(attempt, list.length) - 1] ?? 'success') as OutcomeName;
  return (spec?.outcome ?? 'success') as OutcomeName;
}

interface Job {
  receivedAt: string;
  runId: string;
  attemptId: string;
  attempt: number;
  outcome: OutcomeName;
  idempotencyKey: string | null;
  callbacks: Array<{ at: string; status: number | null; body: unknown }>;
}

const simulator: FastifyPluginAsyncTypebox = async (app) => {
  const { engine } = app.tether;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const jobs: Job[] = [];
  let closed = false;

  app.addHook('onClose', async () => {
    closed = true;
    for (const t of timers) clearTimeout(t);
  });

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
  };

  const callBack = async (job: Job, url: string, body: unknown) => {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      job.callbacks.push({ at: new Date().toISOString(), status: res.status, body: await res.json().catch(() => null) });
    } catch (e) {
      job.callbacks.push({ at: new Date().toISOString(), status: null, body: String(e) });
    }
  };

  app.post(
    '/jobs',
    { schema: { summary: 'Simulated external system: accepts a Tether trigger', body: TriggerBody, tags: ['simulator'] } },
    async (req, reply) => {
      const b = req.body;
      const spec = ((b.payload as { simulate?: SimulateSpec } | null | undefined)?.simulate ?? undefined) as SimulateSpec | undefined;
      const outcome = outcomeFor(spec, b.attempt);
      const delayMs = Math.round((spec?.delaySeconds ?? 1) * 1000);
      const job: Job = {
        receivedAt: new Date().toISOString(),
        runId: b.runId,
        attemptId: b.attemptId,
        attempt: b.attempt,
        outcome,
        idempotencyKey: (req.headers['idempotency-key'] as string | undefined) ?? null,
        callbacks: [],
      };
      jobs.push(job);
      if (jobs.length > 500) jobs.shift();
      const ok = { success: true, message: `Simulated job for attempt ${b.attempt} succeeded.`, output: { simulated: true, attempt: b.attempt } };

      switch (outcome) {
        case 'triggerError':
          return reply.code(500).send({ error: 'simulated trigger error' });
        case 'never':
          break;
        case 'success':
          later(delayMs, () => void callBack(job, b.callbackUrl, ok));
          break;
        case 'failure':
          later(delayMs, () =>
            void callBack(job, b.callbackUrl, {
              success: false,
              message: `Simulated job for attempt ${b.attempt} failed.`,
              ...(spec?.retryable === false ? { retryable: false } : {}),
            }),
          );
          break;
        case 'duplicate':
          later(delayMs, async () => {
            await callBack(job, b.callbackUrl, ok);
            await callBack(job, b.callbackUrl, ok);
          });
          break;
        case 'late': {
          const run = await engine.getRun(b.runId);
          const attempt = run?.attempts.find((a) => a.id === b.attemptId);
          const due = attempt ? Date.parse(attempt.timeoutDue) : Date.now();
          later(Math.max(0, due - Date.now()) + delayMs, () => void callBack(job, b.callbackUrl, ok));
          break;
        }
        case 'early':
          // Fire the callback and wait for its answer before acknowledging the trigger.
          await callBack(job, b.callbackUrl, ok);
          break;
      }
      return reply.code(202).send({ accepted: true, outcome });
    },
  );

  app.get('/jobs', { schema: { summary: 'What the simulator received (newest last, at most 500)', tags: ['simulator'] } }, async () => ({ jobs }));
};

export default simulator;
