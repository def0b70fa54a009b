import type { ReactNode } from 'react';
import type { AttemptState, EventVerdict, RunStatus } from '@tether/machine/protocol';
import { VERDICT_MEANING, verdictWord } from '../lib/event-names.ts';
import { attemptStateTone, runStatusTone, verdictTone, type Tone } from '../lib/tones.ts';

export function Badge({ tone, children, title }: { tone: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`badge tone-${tone}`} title={title}>
      {children}
    </span>
  );
}

export function RunStatusBadge({ status }: { status: RunStatus }) {
  return (
    <Badge tone={runStatusTone[status]}>
      <span className="badge-dot" aria-hidden="true" />
      {status}
    </Badge>
  );
}

export function AttemptStateBadge({ state }: { state: AttemptState }) {
  return <Badge tone={attemptStateTone[state]}>{state}</Badge>;
}

/** A log verdict in the API's own word (`applied`, not a synonym), what it means in the tooltip. */
export function VerdictBadge({ verdict, httpStatus }: { verdict: EventVerdict; httpStatus?: number | undefined }) {
  return (
    <Badge tone={verdictTone[verdict]} title={VERDICT_MEANING[verdict]}>
      {httpStatus !== undefined ? <span className="num">{httpStatus} </span> : null}
      {verdictWord(verdict)}
    </Badge>
  );
}
