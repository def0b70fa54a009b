import type { StreamConnection } from '../lib/stream/useStream.ts';
import { formatCountdown } from '../lib/time.ts';
import { Time } from './Time.tsx';

/** Live / connecting / reconnecting, with the time to the next try and a way to try now. */
export function ConnectionIndicator({ connection, now }: { connection: StreamConnection; now: number }) {
  const { status, nextRetryAt, failures, restarts, lastClose } = connection;
  const lastRestart = restarts[restarts.length - 1];
  const text =
    status === 'live'
      ? 'Live'
      : status === 'connecting'
        ? 'Connecting…'
        : nextRetryAt !== null && nextRetryAt > now
          ? `Reconnecting in ${formatCountdown(nextRetryAt - now)}`
          : 'Reconnecting…';
  return (
    <div className="connection" data-connection={status}>
      <span role="status" aria-live="polite" className={`connection-state conn-${status}`} title={lastClose ?? undefined}>
        <span className="connection-dot" aria-hidden="true" />
        <span className="num connection-text">{text}</span>
        {status === 'reconnecting' && failures > 1 ? <span className="muted small"> (try {failures})</span> : null}
      </span>
      {status !== 'live' ? (
        <button type="button" className="btn btn-small" onClick={connection.retryNow}>
          Reconnect now
        </button>
      ) : null}
      {lastRestart ? (
        <span className="restart-note" role="note">
          Server restarted at <Time at={Date.parse(lastRestart.startedAt)} now={now} ago />
        </span>
      ) : null}
    </div>
  );
}
