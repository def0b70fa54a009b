/**
 * A stand-in for the browser WebSocket in jsdom: records every socket the page opens and lets a test play the
 * server (open, send a StreamMessage, close) and read what the page sent. Installed with
 * `vi.stubGlobal('WebSocket', FakeWebSocket)`.
 */
import type { StreamMessage, StreamWatch } from '@tether/machine/protocol';

export class FakeWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeWebSocket[] = [];

  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState = 0;
  onopen: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  /** Every frame the page sent on this socket, as sent. */
  readonly sent: string[] = [];

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  static latest(): FakeWebSocket {
    const ws = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!ws) throw new Error('no WebSocket was opened');
    return ws;
  }

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  serverSend(message: StreamMessage): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(message) }));
  }

  serverClose(code = 1006): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close', { code, reason: '' }));
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(data);
  }

  /** The watch messages the page sent on this socket, parsed. */
  watches(): StreamWatch[] {
    return this.sent.map((d) => JSON.parse(d) as StreamWatch).filter((m) => m.type === 'watch');
  }

  close(): void {
    this.readyState = 3;
  }
}
