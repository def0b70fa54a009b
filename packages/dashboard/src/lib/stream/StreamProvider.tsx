/**
 * The app's one connection to `/api/stream`, in watch mode: pages declare what they show (useWatch), the provider
 * tells the server (one merged watch, sent again on every reconnect by the connection machine), and every message the
 * server sends is written into the query cache (streamCache.ts) before any listener hears of it.
 */
import { useQueryClient } from '@tanstack/react-query';
import { useActorRef } from '@xstate/react';
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import type { StreamMessage } from '@tether/machine/protocol';
import { apiToken } from '../http.ts';
import { connectionMachine } from './connectionMachine.ts';
import { StreamCache } from './streamCache.ts';
import { StreamContext, type StreamHub } from './streamContext.ts';
import { streamUrl } from './useStream.ts';
import { WatchRegistry } from './watchRegistry.ts';

type Listener = (message: StreamMessage) => void;

export function StreamProvider({ children, logic = connectionMachine }: { children: ReactNode; logic?: typeof connectionMachine }) {
  const client = useQueryClient();
  const [cache] = useState(() => new StreamCache(client));
  const [listeners] = useState(() => new Set<Listener>());
  const actor = useActorRef(logic, {
    input: {
      url: streamUrl(apiToken.get()),
      onMessage: (m: StreamMessage) => {
        cache.apply(m);
        for (const l of listeners) l(m);
      },
    },
  });
  const [registry] = useState(() => new WatchRegistry((watch) => actor.send({ type: 'watch.changed', watch })));

  useEffect(() => () => cache.dispose(), [cache]);

  // The browser knows when the network comes back before our backoff does.
  useEffect(() => {
    const online = () => actor.send({ type: 'connection.retryNow' });
    window.addEventListener('online', online);
    return () => window.removeEventListener('online', online);
  }, [actor]);

  const hub = useMemo<StreamHub>(
    () => ({
      actor,
      registry,
      subscribe: (listener) => {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
    }),
    [actor, registry, listeners],
  );
  return <StreamContext value={hub}>{children}</StreamContext>;
}
