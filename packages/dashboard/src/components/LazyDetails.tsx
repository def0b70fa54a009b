import { useState, type ReactNode } from 'react';

/**
 * A `<details>` whose body is only rendered while open: for bodies that are long (a log's worth of JSON) or that hold
 * machine words (raw event types) that belong to the reader who asks for them, not to the page's text.
 */
export function LazyDetails({ summary, className, children }: { summary: ReactNode; className?: string; children: () => ReactNode }) {
  const [open, setOpen] = useState(false);
  return (
    <details className={className} open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>{summary}</summary>
      {open ? children() : null}
    </details>
  );
}
