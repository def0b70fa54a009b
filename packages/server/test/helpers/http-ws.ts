/**
 * A real WebSocket client (the `ws` package) for `/api/stream`: collects every message in arrival order and lets a test
 * wait, boundedly, until the messages satisfy a predicate.
 */
import WebSocket from 'ws';
import type { StreamMessage } from '@tether/machine';

export class StreamClient {
  readonly messages: StreamMessage[] = [];
  private waiters = new Set<() => void>();
  private closed = false;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as StreamMessage);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake() {
    for (const w of [...this.waiters]) w();
  }

  /** Opens the socket; rejects with the HTTP status if the upgrade is refused (e.g. 401). */
  static connect(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      const client = new StreamClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
        socket.terminate();
      });
      socket.once('error', (e) => reject(e));
    });
  }

  /** Resolves once `pred(messages)` holds; fails after `timeoutMs` listing what arrived. */
  async waitFor(what: string, pred: (m: StreamMessage[]) => boolean, timeoutMs = 10_000): Promise<StreamMessage[]> {
    if (pred(this.messages)) return this.messages;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred(this.messages)) {
          done();
          resolve(this.messages);
        } else if (this.closed) {
          done();
          reject(new Error(`stream closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; got ${this.messages.map((m) => m.type).join(', ')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/**
 * A raw ws client whose close code and reason are captured from the very first moment (even a close right after open,
 * which StreamClient.connect would see as a failed connect). `track` collects the socket for the test's cleanup.
 */
export function openRawStream(url: string, track: WebSocket[]) {
  const ws = new WebSocket(url);
  track.push(ws);
  const messages: StreamMessage[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as StreamMessage));
  const opened = new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  const closed = new Promise<{ code: number; reason: string }>((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
  return { ws, messages, opened, closed };
}
