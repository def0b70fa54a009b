import { BULK_ACTIONS, type BulkAction } from '@tether/machine/protocol';
import type { KeyboardEvent, Ref } from 'react';
import { BULK_WORDS, plural } from '../hooks/bulkWords.ts';

export interface BulkBarProps {
  /** Runs the action would name: the ticked ones, or every run matching when "all matching" is on. */
  count: number;
  allMatching: boolean;
  onAction: (action: BulkAction) => void;
  onClear: () => void;
  ref?: Ref<HTMLDivElement>;
}

/** Arrow keys move between the toolbar's buttons, as in any toolbar; Tab still reaches each one. */
function arrows(e: KeyboardEvent<HTMLDivElement>) {
  if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
  const buttons = [...e.currentTarget.querySelectorAll<HTMLButtonElement>('button:not(:disabled)')];
  const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
  if (i < 0) return;
  e.preventDefault();
  buttons[(i + (e.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length]!.focus();
}

export function BulkBar({ count, allMatching, onAction, onClear, ref }: BulkBarProps) {
  return (
    // Focusable itself (not in the Tab order): focus lands here when the button that had it is disabled.
    <div ref={ref} className="bulk-bar" role="toolbar" aria-label="Bulk actions" tabIndex={-1} onKeyDown={arrows}>
      <span className="bulk-count num" aria-live="polite">
        {count === 0 ? 'None selected' : allMatching ? `All ${plural(count, 'run')} selected` : `${count.toLocaleString('en')} selected`}
      </span>
      {BULK_ACTIONS.map((a) => (
        <button
          key={a}
          type="button"
          className={`btn btn-small${a === 'cancel' ? ' btn-danger' : ''}`}
          disabled={count === 0}
          onClick={() => onAction(a)}
        >
          {BULK_WORDS[a].button}
        </button>
      ))}
      {count > 0 ? (
        <button type="button" className="btn btn-small btn-link" onClick={onClear}>
          Clear selection
        </button>
      ) : null}
    </div>
  );
}
