/**
 * JSON bodies: prototype-poisoning keys rejected (400), an empty body read as "no body" (heartbeats may be empty),
 * and a body with no content type, or `text/plain` (what fetch and many HTTP clients send for a string body), still
 * parsed as JSON — external systems are not always careful with headers. No route takes plain text.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { withFields, type WithFields } from './errors.ts';

/**
 * JSON.parse takes any depth, but every commit JSON.stringify-s the run and the validators recurse: a body 5000 arrays
 * deep would fail its commit (a misleading 503) or overflow the stack (500). Deeper than this is refused as a 400.
 */
export const MAX_JSON_DEPTH = 64;

/** The top-level field under which `value` nests deeper than MAX_JSON_DEPTH, or null. Iterative: no recursion to overflow. */
export function tooDeep(value: unknown): string | null {
  const stack: Array<[unknown, number, string]> = [[value, 0, '(body)']];
  while (stack.length) {
    const [v, depth, field] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) return field;
    for (const [k, child] of Object.entries(v)) stack.push([child, depth + 1, depth === 0 ? k : field]);
  }
  return null;
}

export default fp(async function json(app: FastifyInstance) {
  const strict = app.getDefaultJsonParser('error', 'error');
  const parse = (req: Parameters<typeof strict>[0], body: string, done: (err: Error | null, value?: unknown) => void) => {
    if (body === '' || /^\s*$/.test(body)) return done(null, undefined);
    strict(req, body, (err, value) => {
      if (err) {
        const poisoned = /"(__proto__|constructor)"\s*:/.test(body);
        const why = poisoned ? 'it contains a forbidden "__proto__" or "constructor.prototype" key' : 'it does not parse';
        const e = new Error(`body is not valid JSON: ${why}`) as Error & { statusCode: number; code: string };
        e.statusCode = 400;
        e.code = 'TETHER_INVALID_JSON';
        return done(e);
      }
      const deep = tooDeep(value);
      if (deep !== null) {
        const field = { path: deep, message: `is nested deeper than ${MAX_JSON_DEPTH} levels` };
        const e = withFields(new Error(`${field.path} ${field.message}`), [field]) as WithFields<Error> & { statusCode: number; code: string };
        e.statusCode = 400;
        e.code = 'TETHER_VALIDATION';
        return done(e);
      }
      done(null, value);
    });
  };
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, parse);
  app.addContentTypeParser('*', { parseAs: 'string' }, parse);
});
