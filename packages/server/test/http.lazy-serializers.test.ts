/**
 * Response serializers compile on first use and in the background once listening (plugins/lazy-serializers.ts): the
 * responses are what Fastify's own eager serializers make (schema fields only), nothing is left uncompiled for long
 * after a start, and a schema that cannot compile is reported by the background pass, not only at its first request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LazySerializers } from '../src/plugins/lazy-serializers.ts';
import { buildApp } from '../src/app.ts';
import { loadSettings } from '../src/settings.ts';

const item = {
  type: 'object',
  properties: { id: { type: 'string' }, n: { type: 'integer' } },
  required: ['id', 'n'],
} as const;

describe('lazy response serializers', () => {
  let app: FastifyInstance | null = null;
  afterEach(async () => {
    await app?.close();
    app = null;
  });

  it('serialize as the schema says on first use; the rest compile once listening; a broken schema is reported then', async () => {
    const serializers = new LazySerializers();
    app = Fastify({ schemaController: { compilersFactory: { buildSerializer: serializers.factory } } });
    app.get('/item', { schema: { response: { 200: item, 404: { type: 'object', properties: { error: { type: 'string' } } } } } }, async () => ({
      id: 'run_1',
      n: 2,
      secret: 'not in the schema',
    }));
    // A $ref to nothing: fast-json-stringify refuses it when it compiles.
    app.get('/broken', { schema: { response: { 200: { $ref: 'nowhere#/missing' } } } }, async () => ({}));
    await app.ready();
    // Three (route, status) pairs, each for GET and for the HEAD route Fastify adds beside it.
    expect(serializers.pending, 'nothing compiled before the first response').toBe(6);

    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}/item`);
    expect(await res.text()).toBe('{"id":"run_1","n":2}');
    expect(serializers.pending, 'the one used, compiled').toBe(5);

    const errors: unknown[] = [];
    await serializers.warm((e) => errors.push(e));
    expect(serializers.pending).toBe(0);
    // The broken schema, for GET and for HEAD.
    expect(errors).toHaveLength(2);
    expect(serializers.failed).toBe(2);
    expect(String((errors[0] as Error).message)).toMatch(/nowhere|resolve|reference/i);
    expect((await fetch(`http://127.0.0.1:${port}/broken`)).status).toBe(500);
  });

  it("Tether's own app: every route's serializers compile within moments of listening, and none fails", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tether-lazy-'));
    try {
      const serializers = new LazySerializers();
      const settings = loadSettings({ TETHER_SECRET: 'lazy-test-secret-lazy-test-secret-0123' }, { port: 0, dataDir, dashboardDir: '/nonexistent' });
      app = await buildApp({ settings, serializers });
      await app.ready();
      expect(serializers.pending, 'a serializer per route and status, none compiled yet').toBeGreaterThan(50);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/api/runs`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { runs: unknown[] }).runs).toEqual([]);
      await expect.poll(() => serializers.pending, { timeout: 20_000 }).toBe(0);
      expect(serializers.failed).toBe(0);
    } finally {
      await app?.close();
      app = null;
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
