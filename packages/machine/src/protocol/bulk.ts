/**
 * The bulk actions of the runs API: `POST /api/runs/bulk/cancel`, `…/bulk/retry-now`, `…/bulk/rerun`. Each applies the
 * single-run action (`/:id/cancel`, `/:id/retry-now`, `/:id/rerun`) to many runs, named by `ids` or picked by a
 * `filter` (the list's filters), and answers one result per run.
 */
import Type, { type Static } from 'typebox';
import { CancelBody } from './actions.ts';
import { RunFilter } from './pages.ts';
import { literals } from './schema-helpers.ts';

/** The most runs one bulk request acts on: by `ids`, or matched by a `filter` (more is 422 TETHER_BULK_TOO_MANY). */
export const MAX_BULK_RUNS = 1000;

export const BULK_ACTIONS = ['cancel', 'retry-now', 'rerun'] as const;
export const BulkAction = literals(BULK_ACTIONS, 'The single-run action applied to each run.');
export type BulkAction = Static<typeof BulkAction>;

/**
 * What became of one run. `done`: the action was applied. `eligible` (dry runs only): it would be. `skipped`: the
 * single-run action refuses it in its state (its 409 code). `failed`: anything else (unknown id, damaged run, storage).
 */
export const BULK_OUTCOMES = ['done', 'eligible', 'skipped', 'failed'] as const;
export const BulkOutcome = literals(BULK_OUTCOMES, 'What became of the run.');
export type BulkOutcome = Static<typeof BulkOutcome>;

const target = {
  ids: Type.Optional(
    Type.Array(Type.String({ pattern: '^run_[A-Za-z0-9_-]{1,64}$', description: 'Run id.' }), {
      minItems: 1,
      maxItems: MAX_BULK_RUNS,
      uniqueItems: true,
      description: `The runs, 1–${MAX_BULK_RUNS}, each once. Exactly one of ids and filter.`,
    }),
  ),
  filter: Type.Optional(RunFilter),
  dryRun: Type.Optional(Type.Boolean({ description: 'Decide every outcome from the runs as they are and change nothing. @default false' })),
};

/** `POST /api/runs/bulk/retry-now` and `…/bulk/rerun`. */
export const BulkBody = Type.Object(target, {
  $id: 'BulkBody',
  additionalProperties: false,
  description: `Exactly one of \`ids\` and \`filter\`; a filter may match at most ${MAX_BULK_RUNS} runs.`,
});
export type BulkBody = Static<typeof BulkBody>;

/** `POST /api/runs/bulk/cancel`: a `reason` too, capped as the single cancel's, recorded on every run cancelled. */
export const BulkCancelBody = Type.Object(
  { ...target, reason: CancelBody.anyOf[0].properties.reason },
  {
    $id: 'BulkCancelBody',
    additionalProperties: false,
    description: `Exactly one of \`ids\` and \`filter\`; a filter may match at most ${MAX_BULK_RUNS} runs.`,
  },
);
export type BulkCancelBody = Static<typeof BulkCancelBody>;

export const BulkRunResult = Type.Object(
  {
    id: Type.String(),
    outcome: BulkOutcome,
    code: Type.Optional(
      Type.String({ description: 'skipped and failed: the code the single-run action answers (TETHER_RUN_FINAL, TETHER_RUN_NOT_FOUND…).' }),
    ),
    reason: Type.Optional(Type.String({ description: 'skipped and failed: why, in words ("already final (succeeded)").' })),
    newRunId: Type.Optional(Type.String({ description: 'rerun, done: the id of the new run (its rerunOf is `id`).' })),
  },
  { $id: 'BulkRunResult', additionalProperties: false, description: 'What became of one run of a bulk action.' },
);
export type BulkRunResult = Static<typeof BulkRunResult>;

const count = (description: string) => Type.Integer({ minimum: 0, description });

export const BulkResult = Type.Object(
  {
    action: BulkAction,
    dryRun: Type.Boolean(),
    matched: count('How many runs the request named (ids) or the filter matched: the length of results.'),
    counts: Type.Object(
      {
        done: count('Acted on.'),
        eligible: count('Dry run: would be acted on.'),
        skipped: count('Refused by the action in their state.'),
        failed: count('Unknown, damaged, or an error.'),
      },
      { additionalProperties: false },
    ),
    results: Type.Array(BulkRunResult, { description: 'One per run: in the order of ids, or in list order (newest first) for a filter.' }),
  },
  { $id: 'BulkResult', additionalProperties: false, description: 'The outcome of a bulk action, run by run.' },
);
export type BulkResult = Static<typeof BulkResult>;
