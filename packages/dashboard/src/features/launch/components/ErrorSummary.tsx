import type { MouseEvent } from 'react';
import { FIELD_LABELS, type ErrorsByControl, type LaunchValues } from '../hooks/launchForm.ts';

/** Focus a control from the summary (a fragment link alone scrolls to it but leaves focus where it was). */
function focusControl(e: MouseEvent<HTMLAnchorElement>, key: keyof LaunchValues) {
  const el = document.getElementById(`launch-${key}`);
  if (!el) return;
  e.preventDefault();
  el.focus();
  el.scrollIntoView?.({ block: 'center' });
}

/**
 * Every error of the form in one place, above the launch button: the sentence is announced (role=alert); the list
 * names each control with an error and takes you there, and gives the errors no control is about in full. The errors
 * themselves are shown once, by their controls: the list names the controls, it does not repeat the messages.
 */
export function ErrorSummary({ errors, from, id }: { errors: ErrorsByControl; from: 'form' | 'server'; id: string }) {
  const count = errors.controls.length + errors.other.length;
  if (count === 0) return null;
  const fields = count === 1 ? '1 field needs' : `${count} fields need`;
  return (
    <div className="error-summary" data-from={from}>
      <p className="error-summary-title" role="alert" id={`${id}-title`}>
        {from === 'form' ? `${fields} fixing before launch.` : `The server refused this run: ${fields} fixing.`}
      </p>
      <ul className="error-summary-list" aria-labelledby={`${id}-title`}>
        {errors.controls.map((key) => (
          <li key={key}>
            <a href={`#launch-${key}`} onClick={(e) => focusControl(e, key)}>
              {FIELD_LABELS[key]}
            </a>
            {errors.byControl[key]!.length > 1 ? <span className="muted small"> ({errors.byControl[key]!.length} errors)</span> : null}
          </li>
        ))}
        {errors.other.map((m) => (
          <li key={m}>{m}</li>
        ))}
      </ul>
    </div>
  );
}
