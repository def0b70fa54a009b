import type { Run } from '@tether/machine/protocol';
import { JsonBlock } from '../../../components/JsonBlock.tsx';
import { describeRetryPolicy } from '../../../lib/retry-words.ts';

/** What the run was started with: the target, its header names (values redacted by the API), the retry policy and the payload. */
export function InputPanel({ run }: { run: Run }) {
  const { target, payload } = run.config;
  const headers = Object.entries(target.headers ?? {});
  return (
    <dl className="input-facts">
      <dt>Target</dt>
      <dd className="mono small" data-testid="input-target">
        {target.method ?? 'POST'} {target.url}
      </dd>
      <dt>Headers</dt>
      <dd>
        {headers.length === 0 ? (
          <span className="muted">none</span>
        ) : (
          <ul className="plain-list mono small" aria-label="Target headers">
            {headers.map(([name, value]) => (
              <li key={name}>
                {name}: {value}
              </li>
            ))}
          </ul>
        )}
      </dd>
      <dt>Retry policy</dt>
      <dd data-testid="retry-policy">{describeRetryPolicy(run.config, run.id)}</dd>
      <dt>Payload</dt>
      <dd>{payload === undefined ? <span className="muted">none</span> : <JsonBlock value={payload} label="Payload" />}</dd>
    </dl>
  );
}
