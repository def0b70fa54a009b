import { useId, useState } from 'react';
import type { Run } from '@tether/machine/protocol';
import { isSimulatorTarget } from '../../../lib/simulator.ts';
import { CallbackConsole } from './CallbackConsole.tsx';

/**
 * The developer's tools for a run — settle it by hand, send callbacks as the external system — behind a disclosure
 * after the run's own content: daily use reads the run, it does not play its external system. Open by default only
 * for runs against the built-in simulator (target path `/simulator/jobs`), where playing the external system is the
 * point.
 */
export function TestTools({ run, onRun }: { run: Run; onRun: (run: Run) => void }) {
  const [open, setOpen] = useState(() => isSimulatorTarget(run.config.target.url));
  const panel = useId();
  return (
    <section className="card test-tools" aria-labelledby={`${panel}-title`} data-open={open ? 'true' : 'false'}>
      <h2 id={`${panel}-title`} className="test-tools-title">
        <button type="button" className="disclosure" aria-expanded={open} aria-controls={panel} onClick={() => setOpen(!open)}>
          <span className="disclosure-mark" aria-hidden="true">
            {open ? '▾' : '▸'}
          </span>{' '}
          Test tools
        </button>
      </h2>
      <p className="small muted test-tools-hint">
        Callback console: complete or time out the current attempt as an operator, or call back as the external system would.
      </p>
      {/* Rendered only while open: closed, nothing of it is in the page (nor in the tab order). */}
      <div id={panel} hidden={!open}>
        {open ? <CallbackConsole run={run} onRun={onRun} /> : null}
      </div>
    </section>
  );
}
