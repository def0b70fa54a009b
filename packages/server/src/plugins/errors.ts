/**
 * Coded errors and the one error handler. Every error leaves as `{ error: { code, message, fields? } }`; 4xx messages
 * name the field or the rule, and an error about fields lists every one of them in `fields`; 5xx never show internals.
 */
import createError from '@fastify/error';
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { fieldErrorsOf, type FieldError, type SchemaError } from '@tether/machine';
import type { ErrorBody, ErrorField } from '@tether/machine/protocol';
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
  idempotencyKeyReused: createError<[string]>('TETHER_IDEMPOTENCY_KEY_REUSED', '%s', 422),
  runNotFinal: createError<[string]>('TETHER_RUN_NOT_FINAL', 'Run %s is not final: cancel it first, or wait for it to end.', 409),
  /** A bulk action's filter matching more runs than one request acts on: nothing is done. */
  bulkTooMany: createError<[number, number]>(
    'TETHER_BULK_TOO_MANY',
    'The filter matches %d runs; a bulk action takes at most %d. Nothing was done: narrow the filter (status, name, created range) or pass ids.',
    422,
  ),
  noNotification: createError<[string]>(
    'TETHER_NO_NOTIFICATION',
    'Run %s has no completion webhook to deliver: it has no config.notify, or it is not final yet.',
    409,
  ),
} as const;

/** Where each part of a request puts its fields: a query parameter is `query.limit`; body and path fields are bare. */
const PART_PREFIX: Record<string, string> = { body: '', params: '', querystring: 'query.', headers: 'headers.' };

/** A machine field error (`parseRunConfig`, `fieldErrorsOf`) as the wire names it, in the given request part. */
export const toErrorField = (e: FieldError, part = 'body'): ErrorField => {
  const prefix = PART_PREFIX[part] ?? '';
  return { path: prefix && e.field !== '(body)' ? `${prefix}${e.field}` : e.field, message: e.message };
};

/** The schema errors of one request part as `fields`: every field, most specific first. */
export const requestFields = (errors: readonly SchemaError[], part: string): ErrorField[] => fieldErrorsOf(errors).map((e) => toErrorField(e, part));

/** How many field errors `message` spells out; `fields` has them all. */
const SPELLED_OUT = 3;
/**
 * At most this many in `fields`: a 1 MiB body of unknown keys would otherwise be answered with a 10 MiB list. The
 * message says how many there were.
 */
export const MAX_FIELDS = 100;

/** "timeoutSeconds must be > 0; bogus is not a known field; and 2 more": the first fields, named in order. */
export function summarize(fields: readonly ErrorField[]): string {
  if (!fields.length) return 'request is invalid';
  const named = fields.slice(0, SPELLED_OUT).map((f) => `${f.path} ${f.message}`);
  const more = fields.length - named.length;
  return more > 0 ? `${named.join('; ')}; and ${more} more` : named.join('; ');
}

/** A coded error about fields: the handler sends `fields` along with its message. */
export type WithFields<E extends Error> = E & { fields: ErrorField[] };
export const withFields = <E extends Error>(err: E, fields: readonly ErrorField[]): WithFields<E> => Object.assign(err, { fields: [...fields] });
const fieldsOf = (err: unknown): ErrorField[] | undefined => {
  const f = (err as { fields?: unknown } | null)?.fields;
  return Array.isArray(f) && f.length ? (f as ErrorField[]) : undefined;
};

/** 400 TETHER_VALIDATION for these fields, its message naming the first. */
export const invalidFields = (fields: readonly ErrorField[]) => withFields(new Errors.validation(summarize(fields)), fields);

export function toErrorBody(code: string, message: string, fields?: readonly ErrorField[]): ErrorBody {
  return { error: { code, message, ...(fields?.length ? { fields: fields.slice(0, MAX_FIELDS) } : {}) } };
}

export default fp(async function errors(app: FastifyInstance) {
  app.setErrorHandler((err: FastifyError & { validationContext?: string; validation?: SchemaError[] }, req, reply) => {
    if (err.validation) {
      const fields = requestFields(err.validation, err.validationContext ?? 'body');
      return reply.code(400).send(toErrorBody('TETHER_VALIDATION', summarize(fields), fields));
    }
    if (err instanceof RunTooLargeError) return reply.code(413).send(toErrorBody(err.code, err.message));
    if (err instanceof RunDamagedError) {
      // Not transient (an operator must repair or restore the file), so not a 503; never a bare 500 either.
      return reply.code(500).send(toErrorBody(err.code, err.message));
    }
    if (err instanceof CommitError || err.name === 'StoreUnavailableError') {
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
    return reply.code(status).send(toErrorBody(code, friendly(err), fieldsOf(err)));
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
  if (err.statusCode === 400 && !err.message.startsWith('body is not valid JSON') && /JSON|Unexpected|prototype/i.test(err.message))
    return `body is not valid JSON: ${err.message}`;
  return err.message;
}
