/**
 * Size caps on the fields of a callback, a heartbeat and the operator's complete: they are stored on the attempt, so
 * every later commit of the run rewrites them. The body limit (TETHER_BODY_LIMIT) bounds a whole request; these bound
 * what a run keeps. Over a cap is 413 naming the field, like a body over the limit.
 */
import { CALLBACK_MESSAGE_MAX_LENGTH } from '@tether/machine';

export const MESSAGE_TOO_LONG = `message is longer than the limit (${CALLBACK_MESSAGE_MAX_LENGTH} characters)`;

/** True when the schema refused the body because `message` is over its maxLength (answered 413, not 400). */
export function isMessageTooLong(errors: ReadonlyArray<{ instancePath?: string; keyword?: string }> | undefined): boolean {
  const e = errors?.[0];
  return e !== undefined && e.instancePath === '/message' && e.keyword === 'maxLength';
}

/**
 * "output is larger than the limit (65536 bytes)" when the UTF-8 bytes of `value`'s JSON exceed `maxBytes`, else null.
 * One JSON.stringify of the field: cheap enough, since the body limit bounds it and the JSON parser has already
 * refused anything nested too deep to stringify.
 */
export function oversized(field: string, value: unknown, maxBytes: number): string | null {
  if (value === undefined) return null;
  const json = JSON.stringify(value);
  // A string's UTF-8 length is at most 3 bytes per UTF-16 unit: most values are decided without counting.
  if (json.length * 3 <= maxBytes) return null;
  return Buffer.byteLength(json, 'utf8') > maxBytes ? `${field} is larger than the limit (${maxBytes} bytes)` : null;
}
