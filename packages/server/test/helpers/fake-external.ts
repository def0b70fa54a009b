/**
 * A real external system on a loopback port: records every trigger it receives and answers as the test says.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TriggerBody } from '@tether/machine/protocol';

export interface ReceivedTrigger {
  method: string;
  headers: IncomingMessage['headers'];
  body: TriggerBody;
}

export type Responder = (t: ReceivedTrigger) => { status: number; body?: string } | Promise<{ status: number; body?: string }>;

export class FakeExternalSystem {
  readonly received: ReceivedTrigger[] = [];
  /** Triggers whose sender closed the connection before the answer was written (an abandoned request). */
  readonly abandoned: ReceivedTrigger[] = [];
  respond: Responder = () => ({ status: 202, body: '{"accepted":true}' });
  private server: Server;
  private waiters: Array<() => void> = [];
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const t: ReceivedTrigger = {
          method: req.method ?? '',
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'),
        };
        this.received.push(t);
        res.on('close', () => {
          if (!res.writableFinished) {
            this.abandoned.push(t);
            for (const w of this.waiters.splice(0)) w();
          }
        });
        for (const w of this.waiters.splice(0)) w();
        const r = await this.respond(t);
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body ?? '');
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jobs`;
    return this;
  }

  /** Resolves once `n` triggers have arrived in total. */
  async waitFor(n: number): Promise<ReceivedTrigger> {
    while (this.received.length < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.received[n - 1]!;
  }

  /** Resolves once `n` requests have been abandoned by their sender in total. */
  async waitForAbandoned(n: number): Promise<ReceivedTrigger> {
    while (this.abandoned.length < n) await new Promise<void>((r) => this.waiters.push(r));
    return this.abandoned[n - 1]!;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
