import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import type { BulkAction, BulkResult } from '@tether/machine/protocol';
import { ApiError } from '../../../lib/http.ts';
import { runKeys } from '../../../lib/queryKeys.ts';
import { bulkRuns, type BulkTarget } from '../api/runs.ts';

/** Where the confirmation is: the dry run, its answer to confirm, the real action, its per-run results. */
export type BulkStep =
  | { step: 'checking' }
  | { step: 'confirm'; dry: BulkResult }
  | { step: 'running'; dry: BulkResult }
  | { step: 'done'; result: BulkResult }
  | { step: 'error'; error: ApiError };

export interface BulkRequest {
  action: BulkAction;
  target: BulkTarget;
  /** How many runs the selection names, as the page counts them (the dry run says how many the server matched). */
  count: number;
}

export interface BulkFlow {
  request: BulkRequest | null;
  step: BulkStep | null;
  /** Opens the confirmation with a dry run: nothing changes until `confirm`. */
  start: (request: BulkRequest) => void;
  confirm: (reason?: string) => void;
  close: () => void;
}

const asApiError = (e: unknown): ApiError => (e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e)));

/** A bulk action as two requests: a dry run to show what would happen, then, once confirmed, the action itself. */
export function useBulkAction(onDone: () => void): BulkFlow {
  const client = useQueryClient();
  const [request, setRequest] = useState<BulkRequest | null>(null);
  const check = useMutation({ mutationFn: (r: BulkRequest) => bulkRuns(r.action, r.target, { dryRun: true }) });
  const act = useMutation({
    mutationFn: ({ r, reason }: { r: BulkRequest; reason: string | undefined }) =>
      bulkRuns(r.action, r.target, { dryRun: false, ...(reason ? { reason } : {}) }),
    onSuccess: onDone,
    // Whatever was done (some runs may have been acted on before an error), the list shows it.
    onSettled: () => client.invalidateQueries({ queryKey: runKeys.lists() }),
  });

  let step: BulkStep | null = null;
  if (request) {
    if (act.isSuccess) step = { step: 'done', result: act.data };
    else if (act.isError) step = { step: 'error', error: asApiError(act.error) };
    else if (act.isPending && check.data) step = { step: 'running', dry: check.data };
    else if (check.isSuccess) step = { step: 'confirm', dry: check.data };
    else if (check.isError) step = { step: 'error', error: asApiError(check.error) };
    else step = { step: 'checking' };
  }

  return {
    request,
    step,
    start: (r) => {
      act.reset();
      setRequest(r);
      check.mutate(r);
    },
    confirm: (reason) => {
      if (request) act.mutate({ r: request, reason });
    },
    close: () => {
      check.reset();
      act.reset();
      setRequest(null);
    },
  };
}
