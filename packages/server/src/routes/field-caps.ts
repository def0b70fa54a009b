/**
 * Size caps on the fields of a callback, a heartbeat and the operator's complete: they are stored on the attempt, so
 * every later commit of the run rewrites them. The body limit (TETHER_BODY_LIMIT) bounds a whole request; these bound
 * what a run keeps. Over a cap is 413 naming the field, like a body over the limit.
 */
import { CALLBACK_MESSAGE_MAX_LENGTH, type ErrorField } from '@tether/machine/protocol';
import type { SchemaError } from '@tether/machine';
import { requestFields } from '../plugins/errors.ts';

export const MESSAGE_TOO_LONG: ErrorField = { path: 'message', message: `is longer than the limit (${CALLBACK_MESSAGE_MAX_LENGTH} characters)` };

/**
 * True when the schema refused the body only because `message` is over its maxLength: answered 413 like an output over
 * its cap. A body with other errors too is a 400 listing them all, that one included.
 */
export function isMessageTooLong(errors: readonly SchemaError[] | undefined): boolean {
  if (!errors?.some((e) => e.instancePath === '/message' && e.keyword === 'maxLength')) return false;
  const fields = requestFields(errors, 'body');
  return fields.length === 1 && fields[0]!.path === 'message';
}

/**
 * `output is larger than the limit (65536 bytes)` as a field error when the UTF-8 bytes of `value`'s JSON exceed
 * `maxBytes`, else null. One JSON.stringify of the field: cheap enough, since the body limit bounds it and the JSON
 * parser has already refused anything nested too deep to stringify.
 */
export function oversized(field: string, value: unknown, maxBytes: number): ErrorField | null {
  if (value === undefined) return null;
  const json = JSON.stringify(value);
  // A string's UTF-8 length is at most 3 bytes per UTF-16 unit: most values are decided without counting.
  if (json.length * 3 <= maxBytes) return null;
  return Buffer.byteLength(json, 'utf8') > maxBytes ? { path: field, message: `is larger than the limit (${maxBytes} bytes)` } : null;
}
