/** Pretty JSON: shown as it is when short, behind a `<details>` when long (or when `collapsed`). */
export function JsonBlock({
  value,
  label,
  collapseOver = 12,
  collapsed,
}: {
  value: unknown;
  label: string;
  collapseOver?: number;
  collapsed?: boolean;
}) {
  const text = JSON.stringify(value, null, 2) ?? String(value);
  const lines = text.split('\n').length;
  const pre = (
    <pre className="mono small json-block" aria-label={label}>
      {text}
    </pre>
  );
  if (!(collapsed ?? lines > collapseOver)) return pre;
  return (
    <details className="event-json">
      <summary>
        {label} ({lines} {lines === 1 ? 'line' : 'lines'})
      </summary>
      {pre}
    </details>
  );
}
