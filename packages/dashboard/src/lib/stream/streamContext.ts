import { createContext } from 'react';
import type { ActorRefFrom } from 'xstate';
import type { StreamMessage } from '@tether/machine/protocol';
import type { connectionMachine } from './connectionMachine.ts';
import type { WatchRegistry } from './watchRegistry.ts';

/** What StreamProvider shares: the one connection, the registry of interests, and every message as it arrives. */
export interface StreamHub {
  actor: ActorRefFrom<typeof connectionMachine>;
  registry: WatchRegistry;
  /** Called with every message after it has been written into the query cache. */
  subscribe: (listener: (message: StreamMessage) => void) => () => void;
}

export const StreamContext = createContext<StreamHub | null>(null);
