/**
 * The Tether app, as a Fastify plugin: services, the runs API, the callback webhook, the live stream, the simulator,
 * OpenAPI and the dashboard. `server.ts` is the thin runner around it; tests build it through `buildApp`.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import tether, { type TetherPluginOptions } from './plugins/tether.ts';
import errors, { toErrorBody } from './plugins/errors.ts';
import json from './plugins/json.ts';
import { typeboxValidatorCompiler } from './plugins/validation.ts';
import dashboard from './plugins/dashboard.ts';
import runs from './routes/runs/index.ts';
import callbacks from './routes/callbacks/index.ts';
import stream from './routes/stream/index.ts';
import system from './routes/system/index.ts';
import metrics from './plugins/metrics.ts';
import simulator from './simulator/index.ts';

export const app = fp<TetherPluginOptions>(
  async function tetherApp(instance: FastifyInstance, opts) {
    const { settings } = opts;
    // Before any route: every request schema is compiled by TypeBox (plugins/validation.ts), never by ajv.
    instance.setValidatorCompiler(typeboxValidatorCompiler);
    await instance.register(errors);
    await instance.register(json);
    await instance.register(tether, opts);
    await instance.register(metrics);
    await instance.register(websocket, { options: { maxPayload: 64 * 1024 } });
    await instance.register(swagger, {
      openapi: {
        info: {
          title: 'Tether',
          version: '0.1.0',
          description: 'Trigger a long-running job on an external system, wait for its callback, time out, retry. See docs/callback-protocol.md.',
        },
      },
    });
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
}

export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const instance = Fastify({
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
  await instance.register(app, opts);
  return instance;
}
