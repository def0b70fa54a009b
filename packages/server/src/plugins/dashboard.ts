/**
 * Serves the built dashboard at `/`, with client-side routes falling back to index.html. Without a build, `/` says how
 * to make one instead of a bare 404.
 */
import fp from 'fastify-plugin';
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { toErrorBody } from './errors.ts';

export default fp(async function dashboard(app: FastifyInstance, opts: { dir: string }) {
  const index = join(opts.dir, 'index.html');
  const built = existsSync(index);
  if (built) {
    await app.register(fastifyStatic, { root: opts.dir, prefix: '/', wildcard: false, index: ['index.html'] });
  } else {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply
        .type('text/html')
        .send(
          '<!doctype html><title>Tether</title><p>The dashboard is not built. Run <code>pnpm build</code>, or use <code>pnpm start</code>, which builds it.</p><p>API: <a href="/api/docs">/api/docs</a></p>',
        ),
    );
  }
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const isPage = req.method === 'GET' && !path.startsWith('/api/') && !path.startsWith('/simulator/') && !/\.[a-z0-9]+$/i.test(path);
    if (built && isPage && (req.headers.accept ?? '').includes('text/html')) return reply.sendFile('index.html');
    return reply.code(404).send(toErrorBody('TETHER_ROUTE_NOT_FOUND', `No route ${req.method} ${path}.`));
  });
});
