/**
 * The callback webhook. Every answer is distinct and recorded on the run with its verdict and HTTP status:
 *   200 accepted (after the commit is durable) · 200 duplicate · 409 conflict · 410 late · 401 bad signature ·
 *   429 too many bad signatures · 404 unknown run/attempt · 400 malformed body · 413 body, `output`, `progress` or
 *   `message` over its limit.
 * Bad signatures are the exception to "one entry each": they are counted in memory and recorded once per interval
 * (plugins/forged-ledger.ts), because the sender is not authenticated and each entry is a durable write of the run.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { SchemaError } from '@tether/machine';
import { CallbackBody, CallbackResult, HeartbeatBody, type CallbackPayload, type ErrorField } from '@tether/machine/protocol';
import { MAX_FIELDS, requestFields, summarize } from '../../plugins/errors.ts';
import type { SignaturePurpose } from '../../engine/signer.ts';
import { MESSAGE_TOO_LONG, isMessageTooLong, oversized } from '../field-caps.ts';

const Params = Type.Object({
  runId: Type.String({ maxLength: 100, description: 'Run id from the callback URL.' }),
  attemptId: Type.String({ maxLength: 120, description: 'Attempt id from the callback URL.' }),
});
const Query = Type.Object({ sig: Type.Optional(Type.String({ maxLength: 256, description: 'Signature from the callback URL.' })) });
const Answers = {
  200: CallbackResult,
  400: CallbackResult,
  401: CallbackResult,
  404: CallbackResult,
  409: CallbackResult,
  410: CallbackResult,
  413: CallbackResult,
  429: CallbackResult,
  503: CallbackResult,
};

const ID = /^(run|att)_[A-Za-z0-9_-]{1,100}$/;

const CALLBACK_SHAPE = '(body) must be a JSON object { "success": true|false, "message"?, "output"?, "retryable"? } or a bare true/false';

/** What the schema refused, field by field; a wrong whole body ("yes", [true]) is answered with the shape it must have. */
function bodyErrors(req: FastifyRequest): { message: string; fields: ErrorField[] } {
  const fields = requestFields((req.validationError as { validation?: SchemaError[] } | undefined)?.validation ?? [], 'body');
  return { message: fields.some((f) => f.path === '(body)') ? CALLBACK_SHAPE : summarize(fields), fields };
}

const callbacks: FastifyPluginAsyncTypebox = async (app) => {
  const { engine, signer, forged, settings } = app.tether;
  // Every answer counted by kind and verdict (tether_callbacks_total), whichever path gave it: the gate, the engine, an error.
  app.addHook('preSerialization', async (req, _reply, payload) => {
    const result = (payload as { result?: unknown } | null)?.result;
    if (typeof result === 'string') app.metrics?.callback(req.url.split('?')[0]!.endsWith('/heartbeat') ? 'heartbeat' : 'callback', result);
    return payload;
  });

  /** onRequest, before any body is read: unknown runs and bad signatures never cost a body parse. */
  const gate = (purpose: SignaturePurpose) => async (req: FastifyRequest, reply: FastifyReply) => {
    const { runId, attemptId } = req.params as { runId: string; attemptId: string };
    const type = purpose === 'callback' ? 'callback.received' : 'heartbeat.received';
    if (!ID.test(runId) || !ID.test(attemptId) || !engine.getSummary(runId)) {
      return reply.code(404).send({ result: 'not_found', message: `Run ${runId} does not exist.` });
    }
    const sig = (req.query as { sig?: string }).sig;
    if (!signer.verify(runId, attemptId, sig, purpose)) {
      const message = sig ? 'Signature does not match this run and attempt.' : 'Missing ?sig= signature.';
      // Counted, not one durable write each: the first of an interval is recorded at once, the rest in one summary.
      const answer = await forged.refuse({ runId, attemptId, type, client: req.ip, detail: message });
      if (answer.status === 429) {
        return reply
          .code(429)
          .header('retry-after', String(answer.retryAfterSeconds))
          .send({ result: 'rate_limited', attemptId, message: answer.message });
      }
      return reply.code(401).send({ result: 'unauthorized', attemptId, message });
    }
  };

  // Body errors (too large, not JSON) happen before the handler: answer them in the protocol's shape and record them.
  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    const { runId, attemptId } = (req.params ?? {}) as { runId?: string; attemptId?: string };
    // The body never arrived in full: the request timeout cut the connection (Node answered 408), or the client left.
    const cut = err.code === 'ECONNRESET';
    const status = cut ? 408 : err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (err.name === 'RunDamagedError') {
      // Retryable for the sender: once the file is repaired and Tether restarted, the same callback lands.
      return reply
        .code(503)
        .header('retry-after', '60')
        .send({ result: 'invalid', ...(attemptId ? { attemptId } : {}), message: `${err.message} Callback not recorded; retry later.` });
    }
    if (status >= 500) {
      req.log.error({ err }, 'callback failed');
      const unavailable = err.name === 'CommitError' || err.name === 'StoreUnavailableError';
      if (unavailable) reply.header('retry-after', '1');
      return reply
        .code(unavailable ? 503 : 500)
        .send({ result: 'invalid', message: unavailable ? 'Storage unavailable; callback not recorded. Retry.' : 'Internal error.' });
    }
    const validation = err.code === 'TETHER_VALIDATION';
    const message =
      status === 413
        ? 'body is larger than the limit'
        : cut
          ? 'body did not arrive in full: the connection was cut (request timeout, or the client went away)'
          : validation
            ? err.message
            : `body is not valid JSON: ${err.message.replace(/^body is not valid JSON: /, '')}`;
    // A body nested too deep names its field (plugins/json.ts).
    const fields = validation ? (err as { fields?: ErrorField[] }).fields : undefined;
    if (runId && attemptId && engine.getSummary(runId)) {
      const type = req.url.includes('/heartbeat') ? 'heartbeat.received' : 'callback.received';
      await engine.recordRejected(runId, { type, attemptId, verdict: 'invalid', httpStatus: status, detail: message, source: 'callback' });
    }
    return reply.code(status).send({ result: 'invalid', ...(attemptId ? { attemptId } : {}), message, ...(fields?.length ? { fields } : {}) });
  });

  /**
   * A validly signed request with a body the protocol refuses: recorded on the run (its sender is authenticated), and
   * answered with what is wrong, field by field when the refusal is about fields.
   */
  const invalid = async (
    req: FastifyRequest,
    reply: FastifyReply,
    type: string,
    why: { message: string; fields?: ErrorField[] },
    status: 400 | 413 = 400,
  ) => {
    const { runId, attemptId } = req.params as { runId: string; attemptId: string };
    const { message, fields } = why;
    await engine.recordRejected(runId, { type, attemptId, verdict: 'invalid', httpStatus: status, detail: message, source: 'callback' });
    return reply.code(status).send({ result: 'invalid', attemptId, message, ...(fields?.length ? { fields: fields.slice(0, MAX_FIELDS) } : {}) });
  };
  /** One field over its cap: 413 naming it. */
  const tooLargeAnswer = (field: ErrorField) => ({ message: summarize([field]), fields: [field] });

  app.post(
    '/:runId/:attemptId',
    {
      onRequest: gate('callback'),
      attachValidation: true,
      schema: {
        operationId: 'postCallback',
        tags: ['callbacks'],
        security: [],
        summary: 'Callback from the external system for one attempt',
        description: 'Body `{ success, message?, output?, retryable? }` or a bare `true`/`false`. See docs/callback-protocol.md.',
        params: Params,
        querystring: Query,
        body: CallbackBody,
        response: Answers,
      },
    },
    async (req, reply) => {
      if (req.validationError) {
        if (isMessageTooLong((req.validationError as { validation?: SchemaError[] }).validation))
          return invalid(req, reply, 'callback.received', tooLargeAnswer(MESSAGE_TOO_LONG), 413);
        return invalid(req, reply, 'callback.received', bodyErrors(req));
      }
      const b = req.body;
      if (b === undefined || b === null) return invalid(req, reply, 'callback.received', { message: CALLBACK_SHAPE });
      const tooLarge = typeof b === 'boolean' ? null : oversized('output', b.output, settings.maxOutputBytes);
      if (tooLarge) return invalid(req, reply, 'callback.received', tooLargeAnswer(tooLarge), 413);
      const payload: CallbackPayload = typeof b === 'boolean' ? { success: b } : b;
      const out = await engine.callback(req.params.runId, req.params.attemptId, payload);
      const { httpStatus, ...body } = out;
      return reply.code(httpStatus).send(body);
    },
  );

  app.post(
    '/:runId/:attemptId/heartbeat',
    {
      onRequest: gate('heartbeat'),
      attachValidation: true,
      schema: {
        operationId: 'postHeartbeat',
        tags: ['callbacks'],
        security: [],
        description:
          'Body optional: `{ progress? }`. Signed by the `sig` of the heartbeat URL, which cannot settle the attempt. See docs/callback-protocol.md §3.',
        summary: 'Heartbeat for one attempt: extends its heartbeat deadline, records progress',
        params: Params,
        querystring: Query,
        body: HeartbeatBody,
        response: Answers,
      },
    },
    async (req, reply) => {
      if (req.validationError && req.body !== undefined) {
        const fields = requestFields((req.validationError as { validation?: SchemaError[] }).validation ?? [], 'body');
        return invalid(req, reply, 'heartbeat.received', { message: summarize(fields), fields });
      }
      const progress = (req.body as { progress?: unknown } | null | undefined)?.progress;
      const tooLarge = oversized('progress', progress, settings.maxOutputBytes);
      if (tooLarge) return invalid(req, reply, 'heartbeat.received', tooLargeAnswer(tooLarge), 413);
      const out = await engine.heartbeat(req.params.runId, req.params.attemptId, progress);
      const { httpStatus, ...body } = out;
      return reply.code(httpStatus).send(body);
    },
  );
};

export default callbacks;
