/**
 * The Tether app, as a Fastify plugin: services, the runs API, the callback webhook, the live stream, the simulator,
 * OpenAPI and the dashboard. `server.ts` is the thin runner around it; tests build it through `buildApp`.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import websocket from '@fastify/websocket';
import { STATUS_CODES } from 'node:http';
import swagger, { type SwaggerOptions } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import * as protocol from '@tether/machine/protocol';
import tether, { type TetherPluginOptions } from './plugins/tether.ts';
import errors, { toErrorBody } from './plugins/errors.ts';
import json from './plugins/json.ts';
import { typeboxValidatorCompiler } from './plugins/validation.ts';
import { LazySerializers } from './plugins/lazy-serializers.ts';
import dashboard from './plugins/dashboard.ts';
import runs from './routes/runs/index.ts';
import callbacks from './routes/callbacks/index.ts';
import stream from './routes/stream/index.ts';
import system from './routes/system/index.ts';
import metrics from './plugins/metrics.ts';
import simulator from './simulator/index.ts';

/**
 * The OpenAPI document (`GET /api/openapi.json`, Swagger UI at /api/docs), built from the route schemas. What it adds to
 * them touches the document only, never how a request is validated or an answer serialized:
 * - every protocol schema with an `$id` (`Run`, `RunConfig`, `ErrorBody`…) is a component, and referenced by `$ref`
 *   wherever a route or another schema uses it (`refResolver` names the nested ones by their `$id`; `transform`
 *   replaces a route's body or answer that is one);
 * - paths without the trailing slash of a prefix's '/' route (`POST /api/runs`: Fastify answers both forms);
 * - the bearer token (`bearerAuth`) for Swagger UI's Authorize;
 * - OpenAPI 3.1 `webhooks`: the requests Tether sends (the trigger, `run.finished`) and the callback it is sent;
 * - the WebSocket stream: its query, its 101, its messages (`x-stream-messages`) and the watch-mode client's
 *   (`x-stream-client-messages`), which the route cannot declare without being validated by them.
 */
const named: Record<string, { $id: string }> = Object.fromEntries(
  (Object.values(protocol) as unknown[])
    .filter((v): v is { $id: string } => typeof v === 'object' && v !== null && typeof (v as { $id?: unknown }).$id === 'string')
    .sort((a, b) => a.$id.localeCompare(b.$id))
    .map((s) => [s.$id, s]),
);
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nameOf = (s: unknown): string | undefined => {
  const id = (s as { $id?: unknown } | null | undefined)?.$id;
  return typeof id === 'string' && id in named ? id : undefined;
};
/** One answer of a route: a named schema as a reference, described by its status either way. */
const answer = (status: string, s: unknown) => {
  const description = STATUS_CODES[status] ?? `HTTP ${status}`;
  const name = nameOf(s);
  return name ? { ...ref(name), description } : { ...(s as object), 'x-response-description': description };
};
const jsonContent = (schema: object) => ({ 'application/json': { schema } });
const bearer = [{ bearerAuth: [] }];

/** Operations of routes declared outside the route folders: filled in when the route does not say. */
const ELSEWHERE: Record<string, Record<string, unknown>> = {
  'GET /metrics': {
    operationId: 'getMetrics',
    tags: ['system'],
    description: 'Prometheus text format. Needs TETHER_METRICS_TOKEN or TETHER_API_TOKEN when either is set.',
    security: bearer,
    response: {
      200: { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
      401: protocol.ErrorBody,
    },
  },
};

/**
 * New objects for each app: @fastify/swagger annotates and rewrites the component schemas it is given while it builds the
 * document, so it gets copies, never the protocol's schemas (which the routes validate and serialize with).
 */
const openapiOptions = (): SwaggerOptions => ({
  openapi: {
    openapi: '3.1.0',
    // This server, wherever it is reached: Swagger UI's requests go to the origin it was loaded from.
    servers: [{ url: '/' }],
    info: {
      title: 'Tether',
      version: '0.1.0',
      description:
        'Trigger a long-running job on an external system, wait for its callback, time out, retry. See docs/callback-protocol.md. ' +
        'With TETHER_API_TOKEN set, the runs API, the stream and the simulator need `Authorization: Bearer <token>` (or `?token=`).',
    },
    tags: [
      { name: 'runs', description: 'Create, read, list and act on runs (needs the API token when one is set).' },
      { name: 'callbacks', description: 'The signed webhook the external system calls back (authenticated by its `sig`, never the token).' },
      { name: 'stream', description: 'Live updates over a WebSocket.' },
      { name: 'system', description: 'Health, readiness, metrics and the run statechart.' },
      { name: 'simulator', description: 'The built-in external system (TETHER_SIMULATOR).' },
    ],
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            'TETHER_API_TOKEN. Only needed when the server has one; `?token=` is accepted too (browsers cannot set headers on a WebSocket).',
        },
      },
      schemas: JSON.parse(JSON.stringify(named)) as Record<string, never>,
    },
    webhooks: {
      trigger: {
        post: {
          operationId: 'triggerAttempt',
          // Authenticated as the run says: its target.headers (e.g. Authorization).
          security: [],
          summary: "Tether → the run's target.url: start the job, once per attempt (at least once)",
          description:
            "Sent with `target.method` (POST by default) and the run's `target.headers`. Only a 2xx counts as triggered; any other status, a network error or no answer within `triggerTimeoutSeconds` fails the attempt and the run retries with backoff. After a crash it is sent again with the same Idempotency-Key: de-duplicate on it. See docs/callback-protocol.md §1.",
          parameters: [
            {
              in: 'header',
              name: 'Idempotency-Key',
              required: true,
              schema: { type: 'string' },
              description: 'The attempt id (`att_<run>_<n>`), the same on every re-send of this attempt.',
            },
          ],
          requestBody: { required: true, content: jsonContent(ref('TriggerBody')) },
          responses: {
            '2XX': { description: 'Triggered: the job started; its outcome comes later, to `callbackUrl`.' },
            default: { description: 'Anything else fails the attempt (TriggerFailed, with the status and the start of the body).' },
          },
        },
      },
      callback: {
        post: {
          operationId: 'sendCallback',
          // The URL's `sig` is the credential.
          security: [],
          summary: "The external system → Tether: the attempt's outcome, POSTed to its `callbackUrl` as given (keep `sig`)",
          description:
            'The same request as the `postCallback` operation (`POST /api/callbacks/{runId}/{attemptId}?sig=`), seen from the external system. Heartbeats go to `heartbeatUrl` (`postHeartbeat`). See docs/callback-protocol.md §2.',
          requestBody: { required: true, content: jsonContent(ref('CallbackBody')) },
          responses: {
            '200': { description: '`accepted` (committed durably) or `duplicate`.', content: jsonContent(ref('CallbackResult')) },
            '409': { description: '`conflict`: the attempt was settled by a different callback.', content: jsonContent(ref('CallbackResult')) },
            '410': { description: '`late`: the attempt no longer waits; do not retry.', content: jsonContent(ref('CallbackResult')) },
            default: { description: 'See the `postCallback` operation for every answer.', content: jsonContent(ref('CallbackResult')) },
          },
        },
      },
      'run.finished': {
        post: {
          operationId: 'notifyRunFinished',
          // Tether-Signature (and the run's notify.headers) authenticate it.
          security: [],
          summary: 'Tether → config.notify.url: the run is final (succeeded, failed or cancelled), at least once',
          description:
            'Verify `Tether-Signature` before trusting the body: `v1` is the hex HMAC-SHA256, with the server\'s secret, of `"<t>.<raw body>"`; refuse a `t` far from now. Tries that get no 2xx are repeated with backoff; 410 stops them. `@tether/client` exports `verifyNotification`. See docs/callback-protocol.md §6.',
          parameters: [
            {
              in: 'header',
              name: 'Idempotency-Key',
              required: true,
              schema: { type: 'string' },
              description: "`<runId>.finished`: the same on every try and re-delivery. De-duplicate on it (or on the body's `id`).",
            },
            {
              in: 'header',
              name: 'Tether-Signature',
              required: true,
              schema: { type: 'string', pattern: '^t=[0-9]+,v1=[0-9a-f]{64}$' },
              description: '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.',
            },
          ],
          requestBody: { required: true, content: jsonContent(ref('RunFinishedNotification')) },
          responses: {
            '2XX': { description: 'Delivered.' },
            '410': { description: 'Gone: no more tries.' },
            default: { description: 'Not delivered: tried again after a backoff, up to TETHER_NOTIFY_MAX_ATTEMPTS tries.' },
          },
        },
      },
    },
  },
  refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  transform: ({ schema, url, route }) => {
    const path = url.length > 1 ? url.replace(/\/+$/, '') : url;
    const methods = ([] as string[]).concat(route.method);
    const doc: Record<string, unknown> = { ...ELSEWHERE[`${methods[0]} ${path}`], ...schema };
    if (route.websocket) {
      // @fastify/websocket hides its routes. Documentation only: the stream reads its query as it is, and answers with
      // an upgrade.
      doc.hide = false;
      doc.querystring = protocol.StreamQuery;
      doc.response = { 101: { type: 'null', description: 'Switching Protocols: the WebSocket is open.' }, 401: protocol.ErrorBody };
      doc['x-stream-messages'] = ref('StreamMessage');
      // What a watch-mode client (`?watch=1`) sends: the one client→server message.
      doc['x-stream-client-messages'] = ref('StreamWatch');
    }
    const body = nameOf(doc.body);
    if (body) doc.body = ref(body);
    if (doc.response && typeof doc.response === 'object') {
      doc.response = Object.fromEntries(
        Object.entries(doc.response).map(([status, s]) => [status, (s as { type?: unknown }).type === 'null' ? s : answer(status, s)]),
      );
    }
    return { schema: doc, url: path };
  },
});

export const app = fp<TetherPluginOptions>(
  async function tetherApp(instance: FastifyInstance, opts) {
    const { settings } = opts;
    // Before any route: every request schema is compiled by TypeBox (plugins/validation.ts), never by ajv.
    instance.setValidatorCompiler(typeboxValidatorCompiler);
    await instance.register(errors);
    await instance.register(json);
    await instance.register(tether, opts);
    // Before any plugin that declares routes: the document lists only the routes declared after it.
    await instance.register(swagger, openapiOptions());
    await instance.register(metrics);
    await instance.register(websocket, { options: { maxPayload: 64 * 1024 } });
    await instance.register(swaggerUi, { routePrefix: '/api/docs' });
    await instance.register(system);
    await instance.register(runs, { prefix: '/api/runs' });
    // Request lines of the callback and stream routes only at debug: an info log reads as the story of the runs (the
    // lifecycle lines), not as one line per callback or socket.
    const chatty = (['trace', 'debug'].includes(settings.logLevel) ? settings.logLevel : 'warn') as 'debug' | 'trace' | 'warn';
    await instance.register(callbacks, { prefix: '/api/callbacks', logLevel: chatty });
    await instance.register(stream, { prefix: '/api/stream', logLevel: chatty });
    if (settings.simulator) await instance.register(simulator, { prefix: '/simulator' });
    // Imported only when on: a server without the inspector never loads @statelyai/inspect.
    if (settings.inspect) await instance.register((await import('./plugins/inspect.ts')).default, { port: settings.inspectPort });
    await instance.register(dashboard, { dir: settings.dashboardDir });
  },
  { name: 'tether-app' },
);

/** Logs never carry signatures or tokens: the query string is cut from logged URLs, auth headers are redacted. */
export const loggerOptions = (level: string, pretty: boolean): FastifyServerOptions['logger'] => ({
  level,
  redact: ['req.headers.authorization', 'req.query.sig', 'req.query.token'],
  serializers: {
    req: (req: { method: string; url: string; id: string }) => ({ id: req.id, method: req.method, url: req.url.split('?')[0] }),
  },
  ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
});

export interface BuildOptions extends TetherPluginOptions {
  logger?: FastifyServerOptions['logger'];
  /**
   * Longest a client may take to send one whole request, headers and body, in ms. Fastify turns Node's limit off by
   * default, so a client trickling a body byte by byte could hold a connection (and its run's webhook) forever.
   * @default 30000
   */
  requestTimeoutMs?: number;
  /** The response serializers' compiler (plugins/lazy-serializers.ts); a test passes its own to watch it. */
  serializers?: LazySerializers;
}

export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const serializers = opts.serializers ?? new LazySerializers();
  const instance = Fastify({
    // Response serializers compile on first use and in the background once listening (plugins/lazy-serializers.ts).
    schemaController: { compilersFactory: { buildSerializer: serializers.factory } },
    logger: opts.logger ?? false,
    bodyLimit: opts.settings.bodyLimit,
    return503OnClosing: true,
    // Start-up recovery runs inside the tether plugin: after a crash it reads every non-final run file (≈ 8 s for 100k on
    // the 2-vCPU machines, docs/benchmarks.md B5). Fastify's default 10 s plugin timeout would refuse to start a server
    // that holds a few more.
    pluginTimeout: 120_000,
    forceCloseConnections: true,
    requestTimeout: requestTimeoutMs,
    // Router-level refusals (a %-escape that does not decode, a path segment over the limit) in the same coded shape as
    // every other error, instead of Fastify's own.
    frameworkErrors: (err, _req, reply: FastifyReply) =>
      reply
        .code(err.statusCode ?? 400)
        .send(toErrorBody(err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'TETHER_URL_TOO_LONG' : 'TETHER_BAD_URL', err.message)),
    // Node enforces requestTimeout only when it sweeps connections (every 30 s by default): sweep often enough that the
    // limit means what it says. And Node swaps the two limits when headersTimeout (60 s by default) is the larger, which
    // would let a trickled body run for 60 s whatever requestTimeout says.
    http: {
      connectionsCheckingInterval: Math.min(5_000, Math.max(100, Math.floor(requestTimeoutMs / 4))),
      headersTimeout: Math.min(60_000, requestTimeoutMs),
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  instance.addHook('onListen', async function () {
    setImmediate(
      () => void serializers.warm((e) => instance.log.error({ err: (e as Error)?.message ?? String(e) }, 'a response schema does not compile')),
    );
  });
  await instance.register(app, opts);
  return instance;
}
