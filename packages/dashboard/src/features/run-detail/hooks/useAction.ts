import { useCallback, useState } from 'react';
import { ApiError } from '../../../lib/http.ts';

export interface ActionState {
  pending: string | null;
  error: string | null;
  run: (name: string, fn: () => Promise<unknown>) => Promise<void>;
  clear: () => void;
}

/** One action at a time, with the server's refusal (409 "run is final", …) kept to show next to the buttons. */
export function useAction(): ActionState {
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async (name: string, fn: () => Promise<unknown>) => {
    setPending(name);
    setError(null);
    try {
      await fn();
    } catch (e) {
      setError(e instanceof ApiError ? `${name}: ${e.message} (${e.status})` : `${name}: ${String(e)}`);
    } finally {
      setPending(null);
    }
  }, []);
  return { pending, error, run, clear: () => setError(null) };
}
