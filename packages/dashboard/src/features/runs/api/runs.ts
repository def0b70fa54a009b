import type { BulkTarget } from '@tether/client';
import type { BulkAction, BulkResult, RunList } from '@tether/machine/protocol';
import type { RunListParams } from '../../../lib/queryKeys.ts';
import { runsApi } from '../../../lib/tether.ts';

export type { BulkTarget };

/** One page of `GET /api/runs`, as the URL asks for it (filters, order, cursor). */
export function listRuns(params: RunListParams, signal?: AbortSignal): Promise<RunList> {
  return runsApi((runs) => runs.listPage(params, signal ? { signal } : {}), signal);
}

export interface BulkOptions {
  /** Decide every outcome and change nothing: what the confirmation shows. */
  dryRun: boolean;
  /** Cancel only: recorded on every run cancelled. */
  reason?: string;
}

/** `POST /api/runs/bulk/{cancel|retry-now|rerun}` on the ticked runs (`ids`) or on every run a `filter` matches. */
export function bulkRuns(action: BulkAction, target: BulkTarget, { dryRun, reason }: BulkOptions): Promise<BulkResult> {
  return runsApi((runs) =>
    action === 'cancel' ? runs.bulk('cancel', { ...target, dryRun, ...(reason ? { reason } : {}) }) : runs.bulk(action, { ...target, dryRun }),
  );
}
