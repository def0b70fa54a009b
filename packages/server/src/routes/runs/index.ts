/**
 * The runs API: create, list, read, events, cancel, retry-now, operator complete/timeout, rerun; the bulk actions in
 * bulk.ts.
 */
import { createHash } from 'node:crypto';
import Type from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isFinalRunStatus, parseRunConfig, type ResolvedRunConfig, type Run as RunView, type SchemaError } from '@tether/machine';
import {
  CancelBody,
  CompleteBody,
  ErrorBody,
  EventList,
  RerunBody,
  Run,
  RunConfig,
  RunList,
  RunListQuery,
  RunWaitQuery,
  CreateHeaders,
  DEFAULT_RUN_LIST_SORT,
  MAX_WAIT_SECONDS,
  RUN_LIST_SORTS,
  type ErrorField,
  type RunListSort,
} from '@tether/machine/protocol';
import { Errors, invalidFields, summarize, toErrorField, withFields } from '../../plugins/errors.ts';
import { requireToken } from '../../plugins/auth.ts';
import { typeboxValidatorCompiler } from '../../plugins/validation.ts';
import { AttemptParams, RunIdParams } from '../schemas.ts';
import { checkTarget, ownSimulatorUrls, simulatorPayloadFields } from '../../plugins/targets.ts';
import { MESSAGE_TOO_LONG, isMessageTooLong, oversized } from '../field-caps.ts';
import { IdempotencyKeyReusedError } from '../../engine/engine.ts';
import { cursorProblem, ListCursorError } from '../../store/memory-read-model.ts';
import bulk, { readFilter, schemaFields } from './bulk.ts';

/** The IETF draft's key: 1–255 visible ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** JSON with object keys sorted at every level: two requests that differ only in key order are the same request. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const fingerprint = (what: string, body: unknown) =>
  createHash('sha256')
    .update(`${what}\n${canonicalJson(body ?? null)}`)
    .digest('hex');

const runs: FastifyPluginAsyncTypebox = async (app) => {
  const { engine, settings, clock, waiters } = app.tether;
  app.addHook('onRequest', requireToken(settings.apiToken));

  const parseConfig = (body: unknown): ResolvedRunConfig => {
    // Schema and rules in one pass: every field a config gets wrong is in the one 400.
    const parsed = parseRunConfig(body);
    const simulate = simulatorPayloadFields(body, ownSimulatorUrls(app));
    if (!parsed.ok) throw invalidFields([...parsed.errors.map((e) => toErrorField(e)), ...simulate]);
    if (simulate.length) throw invalidFields(simulate);
    // Both endpoints are allow-listed alike; both refusals are reported together.
    const refusals: unknown[] = [];
    const check = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        refusals.push(e);
      }
    };
    check(() => checkTarget(parsed.value.target.url, settings, ownSimulatorUrls(app)));
    if (parsed.value.notify) check(() => checkTarget(parsed.value.notify!.url, settings, [], 'notify.url'));
    if (refusals.length === 1) throw refusals[0];
    if (refusals.length > 1) {
      const fields = refusals.flatMap((e) => (e as { fields?: ErrorField[] }).fields ?? []);
      throw withFields(new Errors.targetNotAllowed(summarize(fields)), fields);
    }
    return parsed.value;
  };

  const tooLargeError = (field: ErrorField) => withFields(new Errors.fieldTooLarge(summarize([field])), [field]);

  /** `Idempotency-Key` of the request, checked; undefined when there is none. */
  const idempotencyKeyOf = (req: FastifyRequest): string | undefined => {
    const raw = req.headers['idempotency-key'];
    if (raw === undefined) return undefined;
    const key = Array.isArray(raw) ? raw.join(',') : raw;
    if (!IDEMPOTENCY_KEY.test(key))
      throw invalidFields([{ path: 'headers.idempotency-key', message: 'must be 1–255 visible ASCII characters (no spaces)' }]);
    return key;
  };

  /** `?wait=` in ms, checked: 0–60 s. */
  const waitMsOf = (q: { wait?: string } | undefined): number => {
    if (q?.wait === undefined) return 0;
    const s = Number(q.wait);
    if (!(s >= 0 && s <= MAX_WAIT_SECONDS))
      throw invalidFields([{ path: 'query.wait', message: `must be between 0 and ${MAX_WAIT_SECONDS} seconds` }]);
    return Math.round(s * 1000);
  };

  /** The run once it is final, or after `ms` as it is then; sooner if the client goes away. Event-driven: no polling. */
  const waitFor = async (run: RunView, ms: number, reply: FastifyReply): Promise<RunView> => {
    if (ms === 0 || isFinalRunStatus(run.status)) return run;
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    const w = waiters.wait(run.id, ms, gone.signal);
    try {
      // Read after registering: a final commit between the two is not missed.
      const now = await engine.getRun(run.id);
      if (!now || isFinalRunStatus(now.status)) return now ?? run;
      await w.done;
      return (await engine.getRun(run.id)) ?? run;
    } finally {
      w.cancel();
      reply.raw.off('close', onClose);
    }
  };

  /** Creates (or, with an Idempotency-Key seen before, answers) a run; a replay is 200 with Idempotent-Replayed. */
  const create = async (req: FastifyRequest, reply: FastifyReply, config: ResolvedRunConfig, what: string, rerunOf: string | null) => {
    const key = idempotencyKeyOf(req);
    const waitMs = waitMsOf(req.query as { wait?: string });
    let run: RunView;
    let replayed = false;
    if (key === undefined) run = await engine.createRun(config, { rerunOf });
    else {
      try {
        ({ run, replayed } = await engine.createRunOnce(config, { rerunOf, idempotency: { key, fingerprint: fingerprint(what, req.body) } }));
      } catch (e) {
        if (e instanceof IdempotencyKeyReusedError) throw new Errors.idempotencyKeyReused(e.message);
        throw e;
      }
    }
    const answer = await waitFor(run, waitMs, reply);
    if (replayed) reply.header('idempotent-replayed', 'true');
    return reply
      .code(replayed ? 200 : 201)
      .header('location', `/api/runs/${run.id}`)
      .send(answer);
  };

  const mustExist = async (id: string) => {
    const doc = await engine.getDoc(id);
    if (!doc) throw new Errors.runNotFound(id);
    return doc;
  };

  app.post(
    '/',
    {
      // The schema stays for the typed body and the OpenAPI document, but parseRunConfig is the validator: it checks
      // the same schema and the rules a schema cannot say (maxSeconds >= initialSeconds, sendable headers) and reports
      // both kinds together, where Fastify's refusal would stop before the rules were looked at. Not checked twice.
      validatorCompiler: (route) => (route.httpPart === 'body' ? () => true : typeboxValidatorCompiler(route)),
      schema: {
        operationId: 'createRun',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        description:
          '201 with a Location header. With an Idempotency-Key seen before and the same body: 200, the same run, Idempotent-Replayed: true, nothing created; another body: 422. A 400 lists every field that is wrong.',
        summary: 'Create and start a run (once per Idempotency-Key); with ?wait=, answer when it is final or the wait ends',
        body: RunConfig,
        querystring: RunWaitQuery,
        headers: CreateHeaders,
        response: { 200: Run, 201: Run, 400: ErrorBody, 401: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => create(req, reply, parseConfig(req.body), 'POST /api/runs', null),
  );

  app.get(
    '/',
    {
      // The handler sees schema errors, to add the rules a schema cannot say (limit's range, an empty created range, a
      // cursor of another sort) and answer one 400 naming every bad parameter.
      attachValidation: true,
      schema: {
        operationId: 'listRuns',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'List runs, newest first or in `sort`, filtered; with the total that match',
        description:
          'Filters: status, name (case-insensitive substring), createdAfter (inclusive) and createdBefore (exclusive), RFC 3339 date-times. `sort`: -createdAt (default), createdAt, -updatedAt, updatedAt, status, -status, duration, -duration (finishedAt − createdAt; runs not final last in both directions); ties by id. `nextCursor` continues the same sort only. A 400 lists every parameter that is wrong.',
        querystring: RunListQuery,
        response: { 200: RunList, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (req) => {
      const fields = schemaFields(req);
      const named = new Set(fields.map((f) => f.path));
      // Read as strings by type: after a schema error the query is as sent (a repeated parameter is an array).
      const q = req.query as Record<string, unknown>;
      const str = (k: string) => (typeof q[k] === 'string' && !named.has(`query.${k}`) ? (q[k] as string) : undefined);
      const limitText = str('limit');
      const limit = limitText === undefined ? 50 : Number(limitText);
      if (limit < 1 || limit > 500) fields.push({ path: 'query.limit', message: 'must be between 1 and 500' });
      const { filter, fields: filterFields } = readFilter(q, 'query.', named);
      fields.push(...filterFields);
      const sortText = str('sort');
      const sort: RunListSort =
        sortText && (RUN_LIST_SORTS as readonly string[]).includes(sortText) ? (sortText as RunListSort) : DEFAULT_RUN_LIST_SORT;
      const cursor = str('cursor');
      // A cursor is read in the sort asked; with a sort that is itself wrong there is nothing to read it against.
      const problem = cursor && !named.has('query.sort') ? cursorProblem(sort, cursor) : null;
      if (problem) fields.push({ path: 'query.cursor', message: problem });
      if (fields.length) throw invalidFields(fields);
      try {
        return engine.listRuns({ ...filter, limit, ...(sortText ? { sort } : {}), ...(cursor ? { cursor } : {}) });
      } catch (e) {
        if (e instanceof ListCursorError) throw invalidFields([{ path: 'query.cursor', message: e.problem }]);
        throw e;
      }
    },
  );

  await app.register(bulk, { parseConfig });

  app.get(
    '/:id',
    {
      schema: {
        operationId: 'getRun',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'Read a run with all its attempts; with ?wait=, answer as soon as it is final or when the wait ends',
        params: RunIdParams,
        querystring: RunWaitQuery,
        response: { 200: Run, 400: ErrorBody, 404: ErrorBody, 401: ErrorBody },
      },
    },
    async (req, reply) => {
      const waitMs = waitMsOf(req.query);
      return waitFor(engine.view(await mustExist(req.params.id)), waitMs, reply);
    },
  );

  app.get(
    '/:id/events',
    {
      schema: {
        operationId: 'getRunEvents',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: "The run's event log: every applied or rejected event, with time, type, verdict and source",
        params: RunIdParams,
        response: { 200: EventList, 404: ErrorBody, 401: ErrorBody },
      },
    },
    async (req) => ({ events: (await mustExist(req.params.id)).events }),
  );

  app.post(
    '/:id/cancel',
    {
      schema: {
        operationId: 'cancelRun',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'Cancel a run that is not final',
        params: RunIdParams,
        body: CancelBody,
        response: { 200: Run, 404: ErrorBody, 409: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const reason = req.body?.reason;
      const r = await engine.dispatch(req.params.id, { type: 'run.cancel', at: clock.now(), ...(reason ? { reason } : {}) }, { source: 'api' });
      if (!r) throw new Errors.runNotFound(req.params.id);
      if (!r.accepted) throw new Errors.runFinal(req.params.id, r.run.status);
      return r.run;
    },
  );

  app.post(
    '/:id/retry-now',
    {
      schema: {
        operationId: 'retryRunNow',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'Skip the rest of the backoff and start the next attempt now',
        params: RunIdParams,
        response: { 200: Run, 404: ErrorBody, 409: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const r = await engine.dispatch(req.params.id, { type: 'run.retryNow', at: clock.now() }, { source: 'api' });
      if (!r) throw new Errors.runNotFound(req.params.id);
      if (!r.accepted) throw new Errors.notInBackoff(req.params.id, r.run.state);
      return r.run;
    },
  );

  app.post(
    '/:id/attempts/:attemptId/complete',
    {
      // The handler sees schema errors so that a message over its cap is 413 like an output over its cap; every other
      // schema error is thrown on to the error handler unchanged (400 naming the field).
      attachValidation: true,
      schema: {
        operationId: 'completeAttempt',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'Operator: settle the current attempt as success or failure',
        params: AttemptParams,
        body: CompleteBody,
        response: { 200: Run, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 401: ErrorBody, 413: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const invalid = req.validationError as (Error & { validation?: SchemaError[]; validationContext?: string }) | undefined;
      if (invalid) {
        if (invalid.validationContext === 'body' && isMessageTooLong(invalid.validation)) throw tooLargeError(MESSAGE_TOO_LONG);
        throw invalid;
      }
      const { id, attemptId } = req.params;
      const b = req.body;
      const tooLarge = oversized('output', b.output, settings.maxOutputBytes);
      if (tooLarge) throw tooLargeError(tooLarge);
      const out = await engine.callback(
        id,
        attemptId,
        {
          success: b.success,
          ...(b.message !== undefined ? { message: b.message } : {}),
          ...(b.output !== undefined ? { output: b.output } : {}),
          ...(b.retryable !== undefined ? { retryable: b.retryable } : {}),
        },
        'operator',
      );
      if (out.result === 'not_found') throw out.attemptId ? new Errors.attemptNotFound(id, attemptId) : new Errors.runNotFound(id);
      if (out.httpStatus === 413) throw new Errors.runTooLarge(out.message);
      if (out.result !== 'accepted') throw new Errors.attemptNotCurrent(`${out.message} (${out.result})`);
      return engine.view((await engine.getDoc(id))!);
    },
  );

  app.post(
    '/:id/attempts/:attemptId/timeout',
    {
      schema: {
        operationId: 'timeoutAttempt',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'Operator: time the current attempt out now',
        params: AttemptParams,
        response: { 200: Run, 404: ErrorBody, 409: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const { id, attemptId } = req.params;
      const doc = await mustExist(id);
      if (!doc.snapshot.context.attempts.some((a) => a.id === attemptId)) throw new Errors.attemptNotFound(id, attemptId);
      const r = await engine.dispatch(id, { type: 'attempt.forceTimeout', attemptId, at: clock.now() }, { source: 'operator' });
      if (!r) throw new Errors.runNotFound(id);
      if (!r.accepted) throw new Errors.attemptNotCurrent(`Attempt ${attemptId} is not waiting (run state ${r.run.state}).`);
      return r.run;
    },
  );

  app.delete(
    '/:id',
    {
      schema: {
        operationId: 'deleteRun',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'Delete a final run: its document, log and everything stored of it (204); 409 while it is not final',
        params: RunIdParams,
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const r = await engine.deleteRun(req.params.id);
      if (r === null) throw new Errors.runNotFound(req.params.id);
      if (r === 'active') throw new Errors.runNotFinal(req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/:id/notification/redeliver',
    {
      schema: {
        operationId: 'redeliverNotification',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: "Deliver the run's completion webhook again (its tries counted afresh)",
        params: RunIdParams,
        response: { 202: Run, 404: ErrorBody, 409: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const r = await engine.redeliverNotification(req.params.id);
      if (r === null) throw new Errors.runNotFound(req.params.id);
      if (r === false) throw new Errors.noNotification(req.params.id);
      return reply.code(202).send(r);
    },
  );

  app.post(
    '/:id/rerun',
    {
      schema: {
        operationId: 'rerunRun',
        tags: ['runs'],
        security: [{ bearerAuth: [] }],
        summary: 'Start a new run with the same config (payload replaced if given)',
        params: RunIdParams,
        body: RerunBody,
        querystring: RunWaitQuery,
        headers: CreateHeaders,
        response: { 200: Run, 201: Run, 400: ErrorBody, 404: ErrorBody, 401: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const doc = await mustExist(req.params.id);
      const config = { ...doc.snapshot.context.config };
      if (req.body && 'payload' in req.body) config.payload = req.body.payload;
      // A re-run is a new run and is checked like one: the allow-list may have narrowed since the original run, and the
      // rules may have tightened (target headers a run made by an older version carries that fetch cannot send).
      return create(req, reply, parseConfig(config), `POST /api/runs/${doc.id}/rerun`, doc.id);
    },
  );
};

export default runs;
