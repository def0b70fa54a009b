/**
 * Coded errors and the one error handler. Every error leaves as `{ error: { code, message } }`; 4xx messages name the
 * field or the rule; 5xx never show internals.
 */
import createError from '@fastify/error';
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { pathToField } from '@tether/machine';
import { CommitError, RunDamagedError } from '../engine/engine.ts';
import { RunTooLargeError } from '../store/types.ts';

export const Errors = {
  validation: createError<[string]>('TETHER_VALIDATION', '%s', 400),
  runNotFound: createError<[string]>('TETHER_RUN_NOT_FOUND', 'Run %s does not exist.', 404),
  attemptNotFound: createError<[string, string]>('TETHER_ATTEMPT_NOT_FOUND', 'Run %s has no attempt %s.', 404),
  runFinal: createError<[string, string]>('TETHER_RUN_FINAL', 'Run %s is already %s.', 409),
  notInBackoff: createError<[string, string]>('TETHER_NOT_IN_BACKOFF', 'Run %s is not in backoff (state %s).', 409),
  attemptNotCurrent: createError<[string]>('TETHER_ATTEMPT_NOT_WAITING', '%s', 409),
  unauthorized: createError<[string]>('TETHER_UNAUTHORIZED', '%s', 401),
  targetNotAllowed: createError<[string]>('TETHER_TARGET_NOT_ALLOWED', '%s', 400),
  unavailable: createError<[string]>('TETHER_UNAVAILABLE', '%s', 503),
  /** A field over its size cap (TETHER_MAX_OUTPUT_BYTES, the message's maxLength): the message names the field and the cap. */
  fieldTooLarge: createError<[string]>('TETHER_FIELD_TOO_LARGE', '%s', 413),
  notFound: createError<[string, string]>('TETHER_ROUTE_NOT_FOUND', 'No route %s %s.', 404),
  runTooLarge: createError<[string]>('TETHER_RUN_TOO_LARGE', '%s', 413),
} as const;

interface AjvError {
  instancePath: string;
  keyword?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string; allowedValues?: unknown[]; allowedValue?: unknown };
}

/** "body/backoff/maxSeconds must be <= 300" → "backoff.maxSeconds must be <= 300". */
export function describeValidation(errors: AjvError[], context: string): string {
  const e = errors[0];
  if (!e) return `${context} is invalid`;
  const base = e.instancePath ? `${pathToField(e.instancePath)}.` : '';
  if (e.params?.missingProperty) return `${base}${e.params.missingProperty} is required`;
  if (e.params?.additionalProperty) return `${base}${e.params.additionalProperty} is not a known field`;
  const field = e.instancePath ? pathToField(e.instancePath) : context === 'body' ? '(body)' : context;
  // A union of literals fails once per literal: say which values are allowed instead of "must be equal to constant".
  // Same wording as the machine's parseRunConfig: `must be one of "a", "b"`.
  const consts = errors.filter((x) => x.instancePath === e.instancePath && x.keyword === 'const').map((x) => JSON.stringify(x.params?.allowedValue));
  if (consts.length > 1) return `${context === 'querystring' ? 'query.' : ''}${field} must be one of ${consts.join(', ')}`;
  const allowed = e.params?.allowedValues ? `: ${e.params.allowedValues.map(String).join(', ')}` : '';
  return `${context === 'querystring' && e.instancePath ? 'query.' : ''}${field} ${e.message ?? 'is invalid'}${allowed}`;
}

export function toErrorBody(code: string, message: string) {
  return { error: { code, message } };
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError & { validationContext?: string; validation?: AjvError[] }, req, reply) => {
    if (err.validation) {
      return reply.code(400).send(toErrorBody('TETHER_VALIDATION', describeValidation(err.validation, err.validationContext ?? 'body')));
    }
    if (err instanceof RunTooLargeError) return reply.code(413).send(toErrorBody(err.code, err.message));
    if (err instanceof RunDamagedError) {
      // Not transient (an operator must repair or restore the file), so not a 503; never a bare 500 either.
      return reply.code(500).send(toErrorBody(err.code, err.message));
    }
    if (err instanceof CommitError) {
      req.log.error({ err: err.message }, 'commit failed');
      return reply
        .code(503)
        .header('retry-after', '1')
        .send(toErrorBody('TETHER_UNAVAILABLE', 'Storage is unavailable; nothing was changed. Retry later.'));
    }
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'unhandled error');
      return reply.code(status).send(toErrorBody('TETHER_INTERNAL', 'Internal error; see the server log.'));
    }
    const code = err.code?.startsWith('TETHER_') ? err.code : fastifyCode(err.code, status);
    return reply.code(status).send(toErrorBody(code, friendly(err)));
  });
  // The 404 handler lives with the dashboard plugin: unknown page routes fall back to the SPA, the rest get a coded 404.
});

function fastifyCode(code: string | undefined, status: number): string {
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'TETHER_BODY_TOO_LARGE';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'TETHER_UNSUPPORTED_MEDIA_TYPE';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'TETHER_INVALID_JSON';
    default:
      return status === 413 ? 'TETHER_BODY_TOO_LARGE' : status === 415 ? 'TETHER_UNSUPPORTED_MEDIA_TYPE' : 'TETHER_BAD_REQUEST';
  }
}

function friendly(err: FastifyError): string {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'body is larger than the limit';
  if (err.statusCode === 400 && !err.message.startsWith('body is not valid JSON') && /JSON|Unexpected|prototype/i.test(err.message)) return `body is not valid JSON: ${err.message}`;
  return err.message;
}
