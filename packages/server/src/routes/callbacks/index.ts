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
import { CallbackBody, CallbackResult, HeartbeatBody, type CallbackPayload } from '@tether/machine';
import { describeValidation } from '../../plugins/errors.ts';
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

type Validation = Parameters<typeof describeValidation>[0];
/** A wrong field is named by describeValidation; a wrong whole body ("yes", [true], null) gets the shape it must have. */
function describeCallbackBody(errors: Validation): string {
  const e = errors[0];
  if (e && e.instancePath === '' && !e.params?.missingProperty && !e.params?.additionalProperty) return CALLBACK_SHAPE;
  return describeValidation(errors, 'body');
}

const callbacks: FastifyPluginAsyncTypebox = async (app) => {
  const { engine, signer, forged, settings } = app.tether;

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
        return reply.code(429).header('retry-after', String(answer.retryAfterSeconds)).send({ result: 'rate_limited', attemptId, message: answer.message });
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
      return reply.code(503).header('retry-after', '60').send({ result: 'invalid', ...(attemptId ? { attemptId } : {}), message: `${err.message} Callback not recorded; retry later.` });
    }
    if (status >= 500) {
      req.log.error({ err }, 'callback failed');
      const unavailable = err.name === 'CommitError';
      return reply.code(unavailable ? 503 : 500).send({ result: 'invalid', message: unavailable ? 'Storage unavailable; callback not recorded. Retry.' : 'Internal error.' });
    }
    const message =
      status === 413
        ? 'body is larger than the limit'
        : cut
          ? 'body did not arrive in full: the connection was cut (request timeout, or the client went away)'
          : err.code === 'TETHER_VALIDATION'
            ? err.message
            : `body is not valid JSON: ${err.message.replace(/^body is not valid JSON: /, '')}`;
    if (runId && attemptId && engine.getSummary(runId)) {
      const type = req.url.includes('/heartbeat') ? 'heartbeat.received' : 'callback.received';
      await engine.recordRejected(runId, { type, attemptId, verdict: 'invalid', httpStatus: status, detail: message, source: 'callback' });
    }
    return reply.code(status).send({ result: 'invalid', ...(attemptId ? { attemptId } : {}), message });
  });

  /** A validly signed request with a body the protocol refuses: recorded on the run (its sender is authenticated). */
  const invalid = async (req: FastifyRequest, reply: FastifyReply, type: string, message: string, status: 400 | 413 = 400) => {
    const { runId, attemptId } = req.params as { runId: string; attemptId: string };
    await engine.recordRejected(runId, { type, attemptId, verdict: 'invalid', httpStatus: status, detail: message, source: 'callback' });
    return reply.code(status).send({ result: 'invalid', attemptId, message });
  };

  app.post(
    '/:runId/:attemptId',
    {
      onRequest: gate('callback'),
      attachValidation: true,
      schema: {
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
        const errors = (req.validationError as unknown as { validation: Validation }).validation ?? [];
        if (isMessageTooLong(errors)) return invalid(req, reply, 'callback.received', MESSAGE_TOO_LONG, 413);
        return invalid(req, reply, 'callback.received', describeCallbackBody(errors));
      }
      const b = req.body;
      if (b === undefined || b === null) return invalid(req, reply, 'callback.received', CALLBACK_SHAPE);
      const tooLarge = typeof b === 'boolean' ? null : oversized('output', b.output, settings.maxOutputBytes);
      if (tooLarge) return invalid(req, reply, 'callback.received', tooLarge, 413);
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
        summary: 'Heartbeat for one attempt: extends its heartbeat deadline, records progress',
        params: Params,
        querystring: Query,
        body: HeartbeatBody,
        response: Answers,
      },
    },
    async (req, reply) => {
      if (req.validationError && req.body !== undefined)
        return invalid(req, reply, 'heartbeat.received', describeValidation((req.validationError as unknown as { validation: [] }).validation ?? [], 'body'));
      const progress = (req.body as { progress?: unknown } | null | undefined)?.progress;
      const tooLarge = oversized('progress', progress, settings.maxOutputBytes);
      if (tooLarge) return invalid(req, reply, 'heartbeat.received', tooLarge, 413);
      const out = await engine.heartbeat(req.params.runId, req.params.attemptId, progress);
      const { httpStatus, ...body } = out;
      return reply.code(httpStatus).send(body);
    },
  );
};

export default callbacks;
