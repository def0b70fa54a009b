import type { ReactNode } from 'react';
import type { AttemptState, EventVerdict, RunStatus } from '@tether/machine/protocol';
import { attemptStateTone, runStatusTone, verdictLabel, verdictTone, type Tone } from '../lib/tones.ts';

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

export function VerdictBadge({ verdict, httpStatus }: { verdict: EventVerdict; httpStatus?: number | undefined }) {
  return (
    <Badge tone={verdictTone[verdict]}>
      {httpStatus !== undefined ? <span className="num">{httpStatus} </span> : null}
      {verdictLabel[verdict]}
    </Badge>
  );
}
