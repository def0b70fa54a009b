/**
 * JSON bodies: prototype-poisoning keys rejected (400), an empty body read as "no body" (heartbeats may be empty),
 * and a body with no content type still parsed as JSON — external systems are not always careful with headers.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';

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
      done(null, value);
    });
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parse);
  app.addContentTypeParser('*', { parseAs: 'string' }, parse);
});
