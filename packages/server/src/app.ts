/**
 * The Tether app, as a Fastify plugin: services, the runs API, the callback webhook, the live stream, the simulator,
 * OpenAPI and the dashboard. `server.ts` is the thin runner around it; tests build it through `buildApp`.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import tether, { type TetherPluginOptions } from './plugins/tether.ts';
import errors from './plugins/errors.ts';
import json from './plugins/json.ts';
import dashboard from './plugins/dashboard.ts';
import runs from './routes/runs/index.ts';
import callbacks from './routes/callbacks/index.ts';
import stream from './routes/stream/index.ts';
import system from './routes/system/index.ts';
import simulator from './simulator/index.ts';

export const app = fp<TetherPluginOptions>(
  async function tetherApp(instance: FastifyInstance, opts) {
    const { settings } = opts;
    await instance.register(errors);
    await instance.register(json);
    await instance.register(tether, opts);
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
    await instance.register(callbacks, { prefix: '/api/callbacks' });
    await instance.register(stream, { prefix: '/api/stream' });
    if (settings.simulator) await instance.register(simulator, { prefix: '/simulator' });
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
}

export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const instance = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.settings.bodyLimit,
    // Bodies are validated strictly: no coercion of "5" to 5, unknown fields rejected, defaults filled by the machine.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  await instance.register(app, opts);
  return instance;
}
