/**
 * The runs API: create, list, read, events, cancel, retry-now, operator complete/timeout, rerun.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { parseRunConfig, type ResolvedRunConfig, type SchemaError } from '@tether/machine';
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
  type ErrorField,
} from '@tether/machine/protocol';
import { Errors, invalidFields, summarize, toErrorField, withFields } from '../../plugins/errors.ts';
import { requireToken } from '../../plugins/auth.ts';
import { typeboxValidatorCompiler } from '../../plugins/validation.ts';
import { AttemptParams, RunIdParams } from '../schemas.ts';
import { checkTarget, ownSimulatorUrls } from '../../plugins/targets.ts';
import { MESSAGE_TOO_LONG, isMessageTooLong, oversized } from '../field-caps.ts';

const runs: FastifyPluginAsyncTypebox = async (app) => {
  const { engine, settings, clock } = app.tether;
  app.addHook('onRequest', requireToken(settings.apiToken));

  const parseConfig = (body: unknown): ResolvedRunConfig => {
    // Schema and rules in one pass: every field a config gets wrong is in the one 400.
    const parsed = parseRunConfig(body);
    if (!parsed.ok) throw invalidFields(parsed.errors.map((e) => toErrorField(e)));
    checkTarget(parsed.value.target.url, settings, ownSimulatorUrls(app));
    return parsed.value;
  };

  const tooLargeError = (field: ErrorField) => withFields(new Errors.fieldTooLarge(summarize([field])), [field]);

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
        summary: 'Create and start a run',
        body: RunConfig,
        response: { 201: Run, 400: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const run = await engine.createRun(parseConfig(req.body));
      return reply.code(201).header('location', `/api/runs/${run.id}`).send(run);
    },
  );

  app.get(
    '/',
    {
      schema: {
        summary: 'List runs, newest first',
        querystring: RunListQuery,
        response: { 200: RunList, 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit === undefined ? 50 : Number(q.limit);
      if (limit < 1 || limit > 500) throw invalidFields([{ path: 'query.limit', message: 'must be between 1 and 500' }]);
      return engine.listRuns({
        limit,
        ...(q.status ? { status: q.status } : {}),
        ...(q.name ? { name: q.name } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
    },
  );

  app.get(
    '/:id',
    { schema: { summary: 'Read a run with all its attempts', params: RunIdParams, response: { 200: Run, 404: ErrorBody, 401: ErrorBody } } },
    async (req) => engine.view(await mustExist(req.params.id)),
  );

  app.get(
    '/:id/events',
    {
      schema: {
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

  app.post(
    '/:id/rerun',
    {
      schema: {
        summary: 'Start a new run with the same config (payload replaced if given)',
        params: RunIdParams,
        body: RerunBody,
        response: { 201: Run, 400: ErrorBody, 404: ErrorBody, 401: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const doc = await mustExist(req.params.id);
      const config = { ...doc.snapshot.context.config };
      if (req.body && 'payload' in req.body) config.payload = req.body.payload;
      // A re-run is a new run and is checked like one: the allow-list may have narrowed since the original run, and the
      // rules may have tightened (target headers a run made by an older version carries that fetch cannot send).
      const run = await engine.createRun(parseConfig(config), { rerunOf: doc.id });
      return reply.code(201).header('location', `/api/runs/${run.id}`).send(run);
    },
  );
};

export default runs;
