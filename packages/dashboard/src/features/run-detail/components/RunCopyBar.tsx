import type { Run } from '@tether/machine/protocol';
import { CopyButton } from '../../../components/CopyButton.tsx';

/** A ready command that posts a success callback to `url`. */
export const successCurl = (url: string): string => `curl -X POST '${url}' -H 'content-type: application/json' -d '{"success":true}'`;

/** One-click copies of what daily use needs: the run id, the current attempt's callback URL, a success curl for it. */
export function RunCopyBar({ run }: { run: Run }) {
  const current = run.attempts[run.attempts.length - 1];
  const url = current?.callbackUrl ?? null;
  return (
    <div className="copy-bar" role="group" aria-label="Copy">
      <span className="copy-item">
        <span className="small muted">Run id</span> <code className="mono small">{run.id}</code>
        <CopyButton text={run.id} label="Copy run id" />
      </span>
      {url && current ? (
        <>
          <span className="copy-item">
            <span className="small muted">Callback URL (attempt #{current.number})</span>
            <CopyButton text={url} label="Copy callback URL" />
          </span>
          <span className="copy-item">
            <span className="small muted">Success curl</span>
            <CopyButton text={successCurl(url)} label="Copy curl command" />
          </span>
        </>
      ) : null}
    </div>
  );
}
