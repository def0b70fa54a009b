import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { Run, RunEventEntry } from '@tether/machine/protocol';
import { inspectorLoaded, loadInspector, openRunInInspector, type RunHistoryInspector } from '../../../lib/inspect-run.ts';

export interface RunInspectorState {
  /** Opens the Stately inspector with the run's whole history; from a click, so the popup is allowed. */
  open: () => void;
  opened: boolean;
  /** False until @statelyai/inspect has loaded (its own chunk, fetched when the page opens). */
  ready: boolean;
  loadError: string | null;
}

/** The run's history in the Stately inspector, kept up to date with entries that arrive while it is open. */
export function useRunInspector(
  run: Pick<Run, 'id' | 'config' | 'createdAt' | 'idempotencyKey'>,
  events: readonly RunEventEntry[],
): RunInspectorState {
  const current = useRef<RunHistoryInspector | null>(null);
  // What a click opens: the latest run and events, kept after each render (a ref is not written during render).
  const latest = useRef({ run, events });
  useLayoutEffect(() => {
    latest.current = { run, events };
  });
  const [opened, setOpened] = useState(false);
  const [ready, setReady] = useState(inspectorLoaded);
  const [loadError, setLoadError] = useState<string | null>(null);

  useEffect(() => {
    if (ready) return;
    let live = true;
    loadInspector().then(
      () => live && setReady(true),
      (e: unknown) => live && setLoadError(`Could not load the inspector: ${String(e)}`),
    );
    return () => {
      live = false;
    };
  }, [ready]);

  const open = useCallback(() => {
    // A second click starts a fresh session: the inspector window is reused and gets the full history again.
    current.current?.stop();
    current.current = openRunInInspector(latest.current.run, latest.current.events);
    setOpened(true);
  }, []);

  useEffect(() => {
    current.current?.push(events);
  }, [events]);

  // Another run on the same page (rerun, navigation) is another session.
  useEffect(
    () => () => {
      current.current?.stop();
      current.current = null;
      setOpened(false);
    },
    [run.id],
  );

  return { open, opened, ready, loadError };
}
