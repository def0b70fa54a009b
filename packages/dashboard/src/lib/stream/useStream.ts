import { useActorRef, useSelector } from '@xstate/react';
import { useEffect, useRef } from 'react';
import type { StreamMessage } from '@tether/machine/protocol';
import { apiToken, wsUrl } from '../http.ts';
import { connectionMachine, connectionStatus, type ConnectionStatus, type ServerRestart } from './connectionMachine.ts';

export interface StreamConnection {
  status: ConnectionStatus;
  failures: number;
  nextRetryAt: number | null;
  lastClose: string | null;
  restarts: ServerRestart[];
  bootId: string | null;
  retryNow: () => void;
}

/** `/api/stream`, with `?runId=` for one run's events and `?token=` when the server wants one (a browser cannot set
 * headers on a WebSocket). */
export function streamUrl(runId: string | null, token: string | null): string {
  const q = new URLSearchParams();
  if (runId) q.set('runId', runId);
  if (token) q.set('token', token);
  const qs = q.toString();
  return wsUrl(`/api/stream${qs ? `?${qs}` : ''}`);
}

/**
 * Opens `/api/stream` (optionally `?runId=`) for as long as the calling component is mounted and hands every
 * message to `onMessage`. Re-key the component to change `runId`.
 */
export function useStream(runId: string | null, onMessage: (message: StreamMessage) => void, logic = connectionMachine): StreamConnection {
  const handler = useRef(onMessage);
  useEffect(() => {
    handler.current = onMessage;
  });
  const actor = useActorRef(logic, {
    input: {
      url: streamUrl(runId, apiToken.get()),
      onMessage: (m: StreamMessage) => handler.current(m),
    },
  });

  // The browser knows when the network comes back before our backoff does.
  useEffect(() => {
    const online = () => actor.send({ type: 'connection.retryNow' });
    window.addEventListener('online', online);
    return () => window.removeEventListener('online', online);
  }, [actor]);

  const status = useSelector(actor, connectionStatus);
  const failures = useSelector(actor, (s) => s.context.failures);
  const nextRetryAt = useSelector(actor, (s) => s.context.nextRetryAt);
  const lastClose = useSelector(actor, (s) => s.context.lastClose);
  const restarts = useSelector(actor, (s) => s.context.restarts);
  const bootId = useSelector(actor, (s) => s.context.bootId);
  return { status, failures, nextRetryAt, lastClose, restarts, bootId, retryNow: () => actor.send({ type: 'connection.retryNow' }) };
}
