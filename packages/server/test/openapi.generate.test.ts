/**
 * The OpenAPI document as a client generator sees it: fetched from a real server (in-process, on an ephemeral port),
 * checked for what generators and Swagger UI need (unique operationIds, paths without a trailing slash, named component
 * schemas referenced instead of inlined, the bearer scheme, the webhooks, the stream's messages), then turned into
 * TypeScript by openapi-typescript and a call file typechecked against it with the TypeScript compiler API: a right call
 * compiles, a wrong one fails with the diagnostic expected.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ts from 'typescript';
import openapiTS, { astToString } from 'openapi-typescript';
import * as protocol from '@tether/machine/protocol';
import { serve, type Served } from './helpers/fuzz-server.ts';

interface Operation {
  operationId?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: unknown }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
  'x-stream-messages'?: unknown;
}
type PathItem = Record<string, Operation>;
interface Document {
  openapi: string;
  paths: Record<string, PathItem>;
  webhooks: Record<string, PathItem>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme?: string }> };
  tags: Array<{ name: string }>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
const operationsOf = (items: Record<string, PathItem>) =>
  Object.entries(items).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ path, method, op })),
  );
const schemaOf = (content: Record<string, { schema: unknown }> | undefined) => content?.['application/json']?.schema;
const refTo = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** Every `$ref` in a value. */
function refsIn(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) refsIn(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.push(x);
      else refsIn(x, out);
    }
  }
  return out;
}

/** The protocol's schemas as JSON: building the document must not change them (the routes validate and serialize with them). */
const protocolJson = () => JSON.stringify(Object.entries(protocol).filter(([, v]) => typeof v === 'object'));

let s: Served;
let doc: Document;
let before: string;
beforeAll(async () => {
  before = protocolJson();
  s = await serve({ env: { TETHER_API_TOKEN: 'tok_0123456789abcdef' } });
  const answer = await s.send('GET', '/api/openapi.json');
  expect(answer.status).toBe(200);
  doc = answer.json as Document;
});
afterAll(async () => {
  await s?.close();
});

describe('GET /api/openapi.json', () => {
  it('is OpenAPI 3.1; every operation has a unique operationId and a known tag', () => {
    expect(doc.openapi).toBe('3.1.0');
    const ops = operationsOf(doc.paths);
    const hooks = operationsOf(doc.webhooks);
    const ids = [...ops, ...hooks].map((o) => o.op.operationId);
    expect(ids.filter((id) => typeof id !== 'string' || id === '')).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      expect.arrayContaining([
        'createRun',
        'getRun',
        'listRuns',
        'getRunEvents',
        'cancelRun',
        'retryRunNow',
        'completeAttempt',
        'timeoutAttempt',
        'rerunRun',
        'redeliverNotification',
        'bulkCancelRuns',
        'bulkRetryNowRuns',
        'bulkRerunRuns',
        'postCallback',
        'postHeartbeat',
        'getStream',
        'getHealth',
        'getReadiness',
        'getMachine',
        'createSimulatorJob',
        'listSimulatorJobs',
      ]),
    );
    const tags = doc.tags.map((t) => t.name);
    expect(tags).toEqual(['runs', 'callbacks', 'stream', 'system', 'simulator']);
    for (const { path, method, op } of ops) {
      expect(op.tags, `${method} ${path}`).toHaveLength(1);
      expect(tags, `${method} ${path}`).toContain(op.tags![0]);
    }
  });

  it('has no path with a trailing slash, and POST /api/runs is the create operation (answered with or without the slash)', async () => {
    expect(Object.keys(doc.paths).filter((p) => p !== '/' && p.endsWith('/'))).toEqual([]);
    expect(doc.paths['/api/runs']?.post?.operationId).toBe('createRun');
    expect(doc.paths['/api/runs']?.get?.operationId).toBe('listRuns');
    const auth = { authorization: 'Bearer tok_0123456789abcdef' };
    const config = { target: { url: `${s.base}/simulator/jobs` }, timeoutSeconds: 30, retryLimit: 0, payload: { simulate: { outcome: 'never' } } };
    expect((await s.send('POST', '/api/runs', { json: config, headers: auth })).status).toBe(201);
    expect((await s.send('POST', '/api/runs/', { json: config, headers: auth })).status).toBe(201);
  });

  it('names the protocol schemas as components and references them instead of inlining them', () => {
    const schemas = doc.components.schemas;
    for (const name of [
      'Run',
      'Attempt',
      'RunConfig',
      'RunSummary',
      'RunList',
      'ErrorBody',
      'ErrorField',
      'CallbackBody',
      'CallbackResult',
      'TriggerBody',
      'RunFinishedNotification',
      'StreamMessage',
      'Health',
      'RunFilter',
      'BulkBody',
      'BulkCancelBody',
      'BulkResult',
    ])
      expect(schemas, name).toHaveProperty(name);
    // Every reference resolves; nothing else than components is referenced.
    for (const r of refsIn(doc)) expect(Object.keys(schemas).map((n) => `#/components/schemas/${n}`)).toContain(r);
    // No component is inlined anywhere in the paths or the webhooks.
    const elsewhere = JSON.stringify([doc.paths, doc.webhooks]);
    for (const [name, schema] of Object.entries(schemas)) {
      const text = JSON.stringify(schema);
      if (text.length > 80) expect(elsewhere.includes(text), `${name} inlined`).toBe(false);
    }
    // The runs API by reference, body and answers alike; and inside the components themselves.
    const create = doc.paths['/api/runs']!.post!;
    expect(schemaOf(create.requestBody?.content)).toEqual(refTo('RunConfig'));
    expect(schemaOf(create.responses['201']?.content)).toEqual(refTo('Run'));
    expect(schemaOf(create.responses['400']?.content)).toEqual(refTo('ErrorBody'));
    expect(schemaOf(doc.paths['/api/runs/{id}']!.get!.responses['200']?.content)).toEqual(refTo('Run'));
    expect(schemaOf(doc.paths['/api/callbacks/{runId}/{attemptId}']!.post!.responses['410']?.content)).toEqual(refTo('CallbackResult'));
    expect(schemaOf(doc.paths['/api/runs/bulk/cancel']!.post!.requestBody?.content)).toEqual(refTo('BulkCancelBody'));
    expect(schemaOf(doc.paths['/api/runs/bulk/rerun']!.post!.requestBody?.content)).toEqual(refTo('BulkBody'));
    expect(schemaOf(doc.paths['/api/runs/bulk/retry-now']!.post!.responses['200']?.content)).toEqual(refTo('BulkResult'));
    expect((schemas.BulkBody as { properties: Record<string, unknown> }).properties.filter).toEqual(refTo('RunFilter'));
    expect((schemas.Run as { properties: Record<string, unknown> }).properties.config).toEqual(refTo('RunConfig'));
    expect((schemas.Run as { properties: Record<string, unknown> }).properties.attempts).toEqual({ type: 'array', items: refTo('Attempt') });
  });

  it('declares bearerAuth and applies it to the token-protected routes only', () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const { path, method, op } of operationsOf(doc.paths)) {
      const protectedRoute = path.startsWith('/api/runs') || path === '/api/stream' || path.startsWith('/simulator/') || path === '/metrics';
      const schemes = (op.security ?? []).flatMap((r) => Object.keys(r));
      expect(schemes.includes('bearerAuth'), `${method} ${path}`).toBe(protectedRoute);
      // Open ones say so (`security: []`), as linters expect.
      expect(op.security, `${method} ${path}`).toBeDefined();
      // Swagger UI sends the token itself: no operation asks for an Authorization header parameter.
      expect(op.parameters?.some((p) => p.in === 'header' && p.name.toLowerCase() === 'authorization') ?? false).toBe(false);
    }
  });

  it('describes the trigger, the callback and the completion webhook as OpenAPI 3.1 webhooks', () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual(['callback', 'run.finished', 'trigger']);
    for (const { op } of operationsOf(doc.webhooks)) expect(op.security).toEqual([]);
    const trigger = doc.webhooks.trigger!.post!;
    expect(schemaOf(trigger.requestBody?.content)).toEqual(refTo('TriggerBody'));
    expect(trigger.parameters).toEqual([expect.objectContaining({ in: 'header', name: 'Idempotency-Key', required: true })]);
    expect(schemaOf(doc.webhooks.callback!.post!.requestBody?.content)).toEqual(refTo('CallbackBody'));
    const finished = doc.webhooks['run.finished']!.post!;
    expect(schemaOf(finished.requestBody?.content)).toEqual(refTo('RunFinishedNotification'));
    expect(finished.parameters?.map((p) => p.name)).toEqual(['Idempotency-Key', 'Tether-Signature']);
    expect((doc.components.schemas.RunFinishedNotification as { properties: Record<string, unknown> }).properties.run).toEqual(refTo('Run'));
  });

  it("describes the stream: its query, its upgrade and its messages' schema", () => {
    const stream = doc.paths['/api/stream']!.get!;
    expect(stream.operationId).toBe('getStream');
    expect(stream['x-stream-messages']).toEqual(refTo('StreamMessage'));
    expect(stream.parameters?.map((p) => `${p.in}:${p.name}`)).toEqual(['query:runId', 'query:watch', 'query:token']);
    expect(Object.keys(stream.responses)).toEqual(['101', '401']);
    const members = (doc.components.schemas.StreamMessage as { anyOf: unknown[] }).anyOf;
    expect(members).toEqual(
      ['StreamSnapshot', 'StreamRunUpdated', 'StreamRunEvent', 'StreamRunSummary', 'StreamRunDeleted', 'StreamWatchOk', 'StreamPing'].map(refTo),
    );
  });

  it("leaves the protocol's schemas as they were", async () => {
    // A second build in the same process: the document of the first must not have rewritten what the second compiles.
    const again = await serve();
    try {
      expect((await again.send('GET', '/healthz')).status).toBe(200);
      expect((await again.send('GET', '/api/openapi.json')).json).toEqual(doc);
    } finally {
      await again.close();
    }
    expect(protocolJson()).toBe(before);
  });
});

describe('openapi-typescript', () => {
  let dir: string;
  let generated: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-openapi-'));
    // Tether's `default`s are filled in by the server: a request may leave those fields out (the generator's default
    // would make them required).
    generated = astToString(await openapiTS(doc as never, { silent: true, defaultNonNullable: false }));
    await writeFile(join(dir, 'api.ts'), generated);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Typechecks one file importing the generated types; the diagnostics as `line: TScode message`. */
  const typecheck = async (source: string): Promise<string[]> => {
    const file = join(dir, `call-${Math.random().toString(36).slice(2)}.ts`);
    await writeFile(file, source);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
      return `${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
  };

  const header = `import type { components, operations, paths, webhooks } from './api.ts';
type CreateBody = paths['/api/runs']['post']['requestBody']['content']['application/json'];
`;

  it('generates paths, operations, components and webhooks', () => {
    expect(generated).toContain('export interface paths {');
    expect(generated).toContain('"/api/runs": {');
    expect(generated).toContain('export interface webhooks {');
    expect(generated).toContain('"run.finished": {');
    expect(generated).toMatch(/createRun: \{/);
    expect(generated).toMatch(/\bRun: \{/);
    expect(generated).toContain('requestBody: {\n            content: {\n                "application/json": components["schemas"]["RunConfig"];');
  });

  it('a right call typechecks against it', async () => {
    const diagnostics = await typecheck(`${header}
const body: CreateBody = { target: { url: 'https://jobs.example.com/run', method: 'PUT' }, timeoutSeconds: 30, retryLimit: 2, backoff: { jitter: 'full' } };
const seconds: number = body.timeoutSeconds;
const same: operations['createRun']['requestBody'] = { content: { 'application/json': body } };
type Created = paths['/api/runs']['post']['responses'][201]['content']['application/json'];
const statusOf = (run: Created): components['schemas']['RunStatus'] => run.status;
const attemptsOf = (run: Created): components['schemas']['Attempt'][] => run.attempts;
type Query = NonNullable<paths['/api/runs']['get']['parameters']['query']>;
const query: Query = { status: 'failed', limit: '20', sort: '-duration', createdAfter: '2026-01-01T00:00:00Z' };
type Trigger = webhooks['trigger']['post']['requestBody']['content']['application/json'];
const callbackUrlOf = (t: Trigger): string => t.callbackUrl;
type Finished = webhooks['run.finished']['post']['requestBody']['content']['application/json'];
const finishedRunOf = (n: Finished): components['schemas']['Run'] => n.run;
const message: components['schemas']['StreamMessage'] = { type: 'ping', at: new Date().toISOString() };
const callback: components['schemas']['CallbackBody'] = { success: false, retryable: false };
export { seconds, same, statusOf, attemptsOf, query, callbackUrlOf, finishedRunOf, message, callback };
`);
    expect(diagnostics).toEqual([]);
  });

  it('a wrong call does not', async () => {
    const diagnostics = await typecheck(`${header}
export const stringSeconds: CreateBody = { target: { url: 'https://jobs.example.com/run' }, timeoutSeconds: '30', retryLimit: 2 };
export const noRetryLimit: CreateBody = { target: { url: 'https://jobs.example.com/run' }, timeoutSeconds: 30 };
export const badStatus: components['schemas']['RunStatus'] = 'done';
export const badMessage: components['schemas']['StreamMessage'] = { type: 'run.exploded', runId: 'run_1' };
`);
    expect(diagnostics).toHaveLength(4);
    expect(diagnostics[0]).toMatch(/^4: TS2322 Type 'string' is not assignable to type 'number'/);
    expect(diagnostics[1]).toMatch(/^5: TS2741 Property 'retryLimit' is missing/);
    expect(diagnostics[2]).toMatch(/^6: TS2322 Type '"done"' is not assignable to type/);
    expect(diagnostics[3]).toMatch(/^7: TS2322 /);
  });
});
