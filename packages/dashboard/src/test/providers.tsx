/**
 * Renders a page as main.tsx does: under a QueryClientProvider (a fresh client per test, no retries: an error is
 * shown at once) and the shared StreamProvider, whose socket is the FakeWebSocket the test installed.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render, renderHook, type RenderHookOptions } from '@testing-library/react';
import type { ReactElement, ReactNode } from 'react';
import { StreamProvider } from '../lib/stream/StreamProvider.tsx';

export function testQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false }, mutations: { retry: false } } });
}

function wrapperFor(client: QueryClient) {
  return function Providers({ children }: { children: ReactNode }) {
    return (
      <QueryClientProvider client={client}>
        <StreamProvider>{children}</StreamProvider>
      </QueryClientProvider>
    );
  };
}

export function renderWithProviders(ui: ReactElement, client = testQueryClient()) {
  return { ...render(ui, { wrapper: wrapperFor(client) }), client };
}

export function renderHookWithProviders<R, P>(
  hook: (props: P) => R,
  client = testQueryClient(),
  options: Omit<RenderHookOptions<NoInfer<P>>, 'wrapper'> = {},
) {
  return { ...renderHook(hook, { ...options, wrapper: wrapperFor(client) }), client };
}
