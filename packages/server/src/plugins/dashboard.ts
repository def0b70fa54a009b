/**
 * Serves the built dashboard at `/`, with client-side routes falling back to index.html. Without a build, `/` says how
 * to make one instead of a bare 404.
 *
 * Caching: Vite's content-hashed files (`/assets/<name>-<hash>.<ext>`) never change under their name, so they are cached
 * for a year as immutable; everything else (index.html, the SPA fallback, source maps) is `no-cache`, revalidated by
 * ETag, so a new release shows at the next load. Compression: the build writes `.br` and `.gz` beside each file
 * (vite.config.ts `precompress`); @fastify/static sends the one Accept-Encoding prefers, or the file itself when there
 * is none, so compressing costs the server nothing. Source maps are served only with TETHER_DASHBOARD_SOURCEMAPS=1.
 * Security headers (CSP and friends) are set on dashboard responses only: the API and its Swagger UI keep their own.
 */
import fp from 'fastify-plugin';
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { toErrorBody } from './errors.ts';

export interface DashboardOptions {
  dir: string;
  /** Serve `*.map` files. @default the TETHER_DASHBOARD_SOURCEMAPS setting */
  sourcemaps?: boolean;
}

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const NO_CACHE = 'no-cache';

/** `assets/index-B8YZRJch.js`, `assets/index-DtAncLH5.css`: how Vite names what it emits (`[name]-[hash][extname]`). */
const HASHED = /^assets\/(?:[^/]+\/)*[^/]+-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$/;
/** The suffix of a precompressed twin (vite.config.ts `precompress`). */
const TWIN = /\.(?:br|gz)$/;

/** A Host header fit to name in the CSP: a hostname, IPv4 or [IPv6], and an optional port; anything else is left out. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The dashboard's policy: its own scripts and styles only (Vite's build has no inline script; React sets `style` props
 * through the CSSOM, which CSP does not govern), the favicon is a data: URL, and the API and the /api/stream WebSocket
 * are same-origin. `'self'` covers ws:/wss: to the page's own host in current browsers; the host is also named for the
 * older ones, with both schemes since a TLS-terminating proxy makes the page https while the server sees http.
 * The Stately inspector opens in its own window (postMessage), which CSP does not restrict.
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const ws = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${ws}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers on every dashboard page and asset. */
export function securityHeaders(host: string | undefined): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(host),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
}

export default fp(async function dashboard(app: FastifyInstance, opts: DashboardOptions) {
  const index = join(opts.dir, 'index.html');
  const built = existsSync(index);
  const sourcemaps = opts.sourcemaps ?? app.tether?.settings.dashboardSourcemaps ?? false;
  if (built) {
    await app.register(fastifyStatic, {
      root: opts.dir,
      prefix: '/',
      wildcard: false,
      index: ['index.html'],
      preCompressed: true,
      // Set per file in setHeaders.
      cacheControl: false,
      // The precompressed twins are found beside their file, never asked for by name; without the setting, source
      // maps get no route at all, so they answer 404 like any missing file.
      globIgnore: ['**/*.br', '**/*.gz', ...(sourcemaps ? [] : ['**/*.map'])],
      setHeaders(res, path) {
        // @fastify/static hands over `reply.raw`, the http.ServerResponse, whose `req` is the request (its types only
        // promise the header methods). Were it missing, the CSP would not name the host; 'self' still covers it.
        const req = (res as unknown as Partial<ServerResponse>).req;
        // `assets/index-B8YZRJch.js` for its .br and .gz too.
        const file = relative(opts.dir, path).split(sep).join('/').replace(TWIN, '');
        const url = req?.url?.split('?')[0] ?? '/';
        const fallback = file === 'index.html' && url !== '/' && url !== '/index.html';
        res.setHeader('cache-control', HASHED.test(file) ? IMMUTABLE : NO_CACHE);
        // The SPA fallback also depends on Accept: a JSON client gets a 404 there, not the page.
        res.setHeader('vary', fallback ? 'Accept, Accept-Encoding' : 'Accept-Encoding');
        for (const [k, v] of Object.entries(securityHeaders(req?.headers.host))) res.setHeader(k, v);
      },
    });
  } else {
    app.get('/', { schema: { hide: true } }, async (req, reply) =>
      reply
        .headers({ ...securityHeaders(req.headers.host), 'cache-control': NO_CACHE })
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
