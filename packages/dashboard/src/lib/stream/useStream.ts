/** What pages use of the shared stream (StreamProvider): its state, a declared interest, and its messages. */
import { useSelector } from '@xstate/react';
import { use, useEffect, useEffectEvent, useId } from 'react';
import type { StreamMessage } from '@tether/machine/protocol';
import { wsUrl } from '../http.ts';
import { connectionStatus, type ConnectionStatus, type ServerRestart } from './connectionMachine.ts';
import { StreamContext, type StreamHub } from './streamContext.ts';
import type { WatchInterest } from './watchRegistry.ts';

export interface StreamConnection {
  status: ConnectionStatus;
  failures: number;
  nextRetryAt: number | null;
  lastClose: string | null;
  restarts: ServerRestart[];
  bootId: string | null;
  retryNow: () => void;
}

/** `/api/stream?watch=1`, with `&token=` when the server wants one (a browser cannot set headers on a WebSocket). */
export function streamUrl(token: string | null): string {
  const q = new URLSearchParams({ watch: '1' });
  if (token) q.set('token', token);
  return wsUrl(`/api/stream?${q.toString()}`);
}

function useHub(): StreamHub {
  const hub = use(StreamContext);
  if (!hub) throw new Error('useStream… hooks need a <StreamProvider> above them');
  return hub;
}

/** The shared connection's state, for the connection indicator. */
export function useStreamConnection(): StreamConnection {
  const { actor } = useHub();
  const status = useSelector(actor, connectionStatus);
  const failures = useSelector(actor, (s) => s.context.failures);
  const nextRetryAt = useSelector(actor, (s) => s.context.nextRetryAt);
  const lastClose = useSelector(actor, (s) => s.context.lastClose);
  const restarts = useSelector(actor, (s) => s.context.restarts);
  const bootId = useSelector(actor, (s) => s.context.bootId);
  return { status, failures, nextRetryAt, lastClose, restarts, bootId, retryNow: () => actor.send({ type: 'connection.retryNow' }) };
}

/** Declares what the calling component shows, for as long as it is mounted; the provider merges every declaration. */
export function useWatch(interest: WatchInterest): void {
  const { registry } = useHub();
  const owner = useId();
  // By value: a new array with the same ids is the same interest.
  const ids = (interest.runs ?? []).join('\n');
  const run = interest.run ?? null;
  const created = interest.created ?? false;
  useEffect(() => {
    registry.set(owner, { runs: ids ? ids.split('\n') : [], run, created });
    return () => registry.delete(owner);
  }, [registry, owner, ids, run, created]);
}

/** Every message of the stream, after the query cache has it: for what the cache does not hold (new runs). */
export function useStreamMessages(listener: (message: StreamMessage) => void): void {
  const { subscribe } = useHub();
  const onMessage = useEffectEvent(listener);
  useEffect(() => subscribe((m) => onMessage(m)), [subscribe]);
}
