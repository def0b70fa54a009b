/**
 * The served dashboard over real HTTP: cache headers (immutable hashed assets, no-cache pages), precompressed brotli and
 * gzip chosen by Accept-Encoding (and the file itself when no twin exists), source maps hidden unless
 * TETHER_DASHBOARD_SOURCEMAPS=1, security headers on dashboard responses, and the API docs untouched.
 *
 * Requests go through node:http, not fetch: fetch decodes bodies itself, and these tests must see the bytes sent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type Served } from './helpers/fuzz-server.ts';

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as sent, still encoded. */
  body: Buffer;
  /** The body after undoing content-encoding. */
  decoded: Buffer;
}

function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const enc = res.headers['content-encoding'];
        const decoded = enc === 'br' ? brotliDecompressSync(body) : enc === 'gzip' ? gunzipSync(body) : body;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, decoded });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
const BR_GZ = { 'accept-encoding': 'gzip, deflate, br' };
const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

/** The policy's directives by name: `{ 'script-src': ["'self'"], … }`. */
function csp(header: string | string[] | undefined): Record<string, string[]> {
  expect(typeof header).toBe('string');
  return Object.fromEntries(
    String(header)
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

function expectSecurityHeaders(r: Raw, base: string): void {
  const policy = csp(r.headers['content-security-policy']);
  const host = new URL(base).host;
  expect(policy['default-src']).toEqual(["'self'"]);
  expect(policy['script-src']).toEqual(["'self'"]);
  expect(policy['style-src']).toEqual(["'self'"]);
  expect(policy['connect-src']).toEqual(["'self'", `ws://${host}`, `wss://${host}`]);
  expect(policy['frame-ancestors']).toEqual(["'none'"]);
  expect(policy['object-src']).toEqual(["'none'"]);
  expect(r.headers['x-content-type-options']).toBe('nosniff');
  expect(r.headers['referrer-policy']).toBe('no-referrer');
  expect(r.headers['x-frame-options']).toBe('DENY');
}

const varyOn = (r: Raw) => String(r.headers.vary ?? '').toLowerCase();

describe('served dashboard: a fixed build', () => {
  let dir: string;
  let s: Served;
  let withMaps: Served;
  const JS = 'assets/index-Ab12Cd34.js';
  const CSS = 'assets/index-Xy_9-Zw8.css';
  const SVG = 'assets/logo-Qq7Rr8Ss.svg';
  const files: Record<string, Buffer> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-dashboard-'));
    await mkdir(join(dir, 'assets'));
    files['index.html'] = Buffer.from(
      `<!doctype html><html><head><title>Tether</title><script type="module" crossorigin src="/${JS}"></script>` +
        `<link rel="stylesheet" crossorigin href="/${CSS}"></head><body><div id="root"></div></body></html>\n`,
    );
    files[JS] = Buffer.from(Array.from({ length: 400 }, (_, i) => `export const value${i} = 'dashboard ${i}';`).join('\n'));
    files[`${JS}.map`] = Buffer.from(JSON.stringify({ version: 3, sources: ['src/main.tsx'], mappings: 'AAAA' }));
    files[CSS] = Buffer.from(Array.from({ length: 200 }, (_, i) => `.c${i} { color: #123456; margin: ${i}px; }`).join('\n'));
    files[SVG] = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6"/></svg>');
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    // Twins as the build writes them: the page and the script have both; the stylesheet only gzip; the svg none.
    for (const name of ['index.html', JS]) {
      await writeFile(join(dir, `${name}.br`), brotliCompressSync(files[name]!));
      await writeFile(join(dir, `${name}.gz`), gzipSync(files[name]!));
    }
    await writeFile(join(dir, `${CSS}.gz`), gzipSync(files[CSS]!));
    s = await serve({ settings: { dashboardDir: dir } });
    withMaps = await serve({ env: { TETHER_DASHBOARD_SOURCEMAPS: '1' }, settings: { dashboardDir: dir } });
  });

  afterAll(async () => {
    await s?.close();
    await withMaps?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends the brotli twin of a hashed asset when br is accepted, cached as immutable', async () => {
    const r = await get(s.base, `/${JS}`, BR_GZ);
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('br');
    expect(r.headers['content-type']).toMatch(/^(application|text)\/javascript/);
    expect(r.headers['cache-control']).toBe(IMMUTABLE);
    expect(varyOn(r)).toContain('accept-encoding');
    // Precompressed: the bytes are the .br file on disk, not compressed again per request.
    expect(r.body.equals(await readFile(join(dir, `${JS}.br`)))).toBe(true);
    expect(r.headers['content-length']).toBe(String(r.body.length));
    expect(r.decoded.equals(files[JS]!)).toBe(true);
  });

  it('sends gzip when only gzip is accepted, and the file itself when nothing is', async () => {
    const gz = await get(s.base, `/${JS}`, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.decoded.equals(files[JS]!)).toBe(true);
    expect(gz.headers['cache-control']).toBe(IMMUTABLE);
    expect(varyOn(gz)).toContain('accept-encoding');

    for (const headers of [{}, { 'accept-encoding': 'identity' }] as Record<string, string>[]) {
      const plain = await get(s.base, `/${JS}`, headers);
      expect(plain.status).toBe(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.body.equals(files[JS]!)).toBe(true);
      expect(plain.headers['cache-control']).toBe(IMMUTABLE);
      expect(varyOn(plain)).toContain('accept-encoding');
    }
  });

  it('falls back to the next twin, then to the file, when a precompressed one is missing', async () => {
    const css = await get(s.base, `/${CSS}`, BR_GZ);
    expect(css.status).toBe(200);
    expect(css.headers['content-encoding']).toBe('gzip');
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect(css.decoded.equals(files[CSS]!)).toBe(true);
    expect(css.headers['cache-control']).toBe(IMMUTABLE);

    const svg = await get(s.base, `/${SVG}`, BR_GZ);
    expect(svg.status).toBe(200);
    expect(svg.headers['content-encoding']).toBeUndefined();
    expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(svg.body.equals(files[SVG]!)).toBe(true);
  });

  it('serves index.html and the SPA fallback as no-cache, compressed, with the security headers', async () => {
    for (const path of ['/', '/index.html', '/runs/run_x']) {
      const r = await get(s.base, path, { ...HTML, ...BR_GZ });
      expect(r.status, path).toBe(200);
      expect(r.headers['content-type'], path).toMatch(/^text\/html/);
      expect(r.headers['cache-control'], path).toBe('no-cache');
      expect(r.headers['content-encoding'], path).toBe('br');
      expect(varyOn(r), path).toContain('accept-encoding');
      expect(r.decoded.equals(files['index.html']!), path).toBe(true);
      expectSecurityHeaders(r, s.base);
    }
    const gz = await get(s.base, '/runs/run_x', { ...HTML, 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.decoded.equals(files['index.html']!)).toBe(true);
    expect(varyOn(gz)).toContain('accept');
    const plain = await get(s.base, '/runs/run_x', HTML);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(files['index.html']!)).toBe(true);
    expect(plain.headers['cache-control']).toBe('no-cache');
  });

  it('puts the security headers on assets too', async () => {
    expectSecurityHeaders(await get(s.base, `/${JS}`, BR_GZ), s.base);
  });

  it('answers 404 for source maps and for the twins by name, unless TETHER_DASHBOARD_SOURCEMAPS=1', async () => {
    const hidden = await get(s.base, `/${JS}.map`);
    expect(hidden.status).toBe(404);
    expect(hidden.body.toString()).not.toContain('mappings');
    for (const twin of [`/${JS}.br`, `/${JS}.gz`]) expect((await get(s.base, twin)).status, twin).toBe(404);

    const shown = await get(withMaps.base, `/${JS}.map`);
    expect(shown.status).toBe(200);
    expect(shown.body.equals(files[`${JS}.map`]!)).toBe(true);
    // A map is not content-hashed itself (a comment-only change keeps the script's hash): revalidated, not immutable.
    expect(shown.headers['cache-control']).toBe('no-cache');
  });

  it('keeps the API and its Swagger UI working, without the dashboard policy', async () => {
    const docs = await fetch(`${s.base}/api/docs`, { headers: HTML });
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
    expect(docs.headers.get('content-security-policy')).toBeNull();
    const health = await fetch(`${s.base}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    expect(health.headers.get('content-security-policy')).toBeNull();
    const missing = await get(s.base, '/api/nope', HTML);
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/json/);
  });

  it('reads TETHER_DASHBOARD_SOURCEMAPS as an on/off setting', async () => {
    const { loadSettings } = await import('../src/settings.ts');
    expect(loadSettings({}).dashboardSourcemaps).toBe(false);
    expect(loadSettings({ TETHER_DASHBOARD_SOURCEMAPS: '1' }).dashboardSourcemaps).toBe(true);
    expect(() => loadSettings({ TETHER_DASHBOARD_SOURCEMAPS: 'maybe' })).toThrow(/TETHER_DASHBOARD_SOURCEMAPS/);
  });
});

describe('served dashboard: the real build', () => {
  const dist = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));
  let s: Served;
  let html: string;

  beforeAll(async () => {
    // Built when missing, or when it predates the build's precompression (no index.html.br): never skipped.
    if (!existsSync(join(dist, 'index.html')) || !existsSync(join(dist, 'index.html.br'))) {
      // Vitest sets NODE_ENV=test, which would make Vite bundle React's development build.
      execFileSync('pnpm', ['--filter', '@tether/dashboard', 'build'], {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        env: { ...process.env, NODE_ENV: 'production' },
        stdio: 'pipe',
      });
    }
    html = await readFile(join(dist, 'index.html'), 'utf8');
    s = await serve({ settings: { dashboardDir: dist } });
  }, 180_000);

  afterAll(async () => {
    await s?.close();
  });

  it('has no inline script or style for the policy to block', () => {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\/assets\//);
      expect(body!.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle="/i);
    expect(html).not.toMatch(/\son[a-z]+="/i);
  });

  it('serves every script and stylesheet of the build: hashed, immutable, precompressed, decoding to the file', async () => {
    const named = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(named.some((r) => r.endsWith('.js'))).toBe(true);
    expect(named.some((r) => r.endsWith('.css'))).toBe(true);
    // And the chunks loaded later (the inspector's), which index.html does not name.
    const all = (await readdir(join(dist, 'assets'))).filter((f) => /\.(js|css)$/.test(f)).map((f) => `/assets/${f}`);
    expect(all).toEqual(expect.arrayContaining(named));
    for (const ref of all) {
      expect(ref).toMatch(/-[A-Za-z0-9_-]{8,}\.(js|css)$/);
      const original = await readFile(join(dist, ref));
      for (const [accept, encoding] of [
        ['br, gzip', 'br'],
        ['gzip', 'gzip'],
        ['identity', undefined],
      ] as const) {
        const r = await get(s.base, ref, { 'accept-encoding': accept });
        expect(r.status, ref).toBe(200);
        expect(r.headers['cache-control'], ref).toBe(IMMUTABLE);
        expect(varyOn(r), ref).toContain('accept-encoding');
        expect(r.headers['content-encoding'], `${ref} ${accept}`).toBe(encoding);
        expect(r.decoded.equals(original), ref).toBe(true);
      }
    }
  });

  it('serves index.html with the policy and keeps its source maps hidden', async () => {
    const page = await get(s.base, '/runs/run_x', { ...HTML, ...BR_GZ });
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-encoding']).toBe('br');
    expect(page.decoded.toString()).toBe(html);
    expectSecurityHeaders(page, s.base);

    const maps = (await readdir(join(dist, 'assets'))).filter((f) => f.endsWith('.map'));
    for (const map of maps) expect((await get(s.base, `/assets/${map}`)).status, map).toBe(404);
  });

  it('still answers /api/docs and the document Swagger UI loads', async () => {
    expect((await fetch(`${s.base}/api/docs`)).status).toBe(200);
    const doc = await fetch(`${s.base}/api/docs/json`);
    expect(doc.status).toBe(200);
    expect(doc.headers.get('content-security-policy')).toBeNull();
  });
});
