/**
 * The bulk actions: `POST /api/runs/bulk/{cancel,retry-now,rerun}`. Each applies the single-run action to up to
 * MAX_BULK_RUNS runs, named by `ids` or matched by a `filter` (the list's filters), and answers one result per run in
 * the order asked. A run the action refuses in its state is `skipped` with the single route's 409 code; anything else
 * that goes wrong with one run (unknown, damaged, storage) is `failed` for that run, never a 5xx for the request.
 *
 * Also home of the filter reading that `GET /api/runs` shares, so that `filter` here and the list's query mean the same.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { isFinalRunStatus, isInBackoff, toRunSummary, type ResolvedRunConfig, type SchemaError } from '@tether/machine';
import {
  BulkBody,
  BulkCancelBody,
  BulkResult,
  ErrorBody,
  MAX_BULK_RUNS,
  type BulkAction,
  type BulkRunResult,
  type ErrorField,
  type RunFilter,
} from '@tether/machine/protocol';
import { CommitError, RunDamagedError } from '../../engine/engine.ts';
import { Errors, invalidFields, requestFields } from '../../plugins/errors.ts';
import type { ListQuery } from '../../store/contract.ts';

/** Runs acted on at once: enough to overlap their reads and commits, few enough that other requests get their turn. */
export const BULK_CONCURRENCY = 8;
/** The longest a bulk request runs before letting other work in. */
const YIELD_EVERY_MS = 10;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The schema errors Fastify attached to the request (routes with `attachValidation`), as `fields`: the handler adds the
 * rules a schema cannot say and answers one 400 naming them all.
 */
export function schemaFields(req: FastifyRequest): ErrorField[] {
  const invalid = req.validationError as (Error & { validation?: SchemaError[]; validationContext?: string }) | undefined;
  if (!invalid) return [];
  if (!invalid.validation) throw invalid;
  return requestFields(invalid.validation, invalid.validationContext ?? 'body');
}

export type ParsedFilter = Pick<ListQuery, 'status' | 'name' | 'createdAfter' | 'createdBefore' | 'derived'>;

/**
 * A RunFilter (the list's query, or a bulk body's `filter`) as the read model takes it, with the fields it gets wrong
 * beyond its schema: a time the schema let through that is no instant, an empty range. `prefix` names the fields
 * (`query.` or `filter.`); fields in `named` (already reported by the schema) are not looked at again. Reads a value the
 * schema may have refused, so every field is checked by type first.
 */
export function readFilter(raw: unknown, prefix: string, named: ReadonlySet<string>): { filter: ParsedFilter; fields: ErrorField[] } {
  const f = (isRecord(raw) ? raw : {}) as { [K in keyof RunFilter]?: unknown };
  const fields: ErrorField[] = [];
  const filter: ParsedFilter = {};
  if (typeof f.status === 'string' && !named.has(`${prefix}status`)) filter.status = f.status as RunFilter['status'];
  if (typeof f.name === 'string' && f.name !== '' && !named.has(`${prefix}name`)) filter.name = f.name;
  if (typeof f.derived === 'string' && !named.has(`${prefix}derived`)) filter.derived = f.derived as RunFilter['derived'];
  const instant = (key: 'createdAfter' | 'createdBefore'): number | undefined => {
    const v = f[key];
    if (typeof v !== 'string' || named.has(`${prefix}${key}`)) return undefined;
    const ms = Date.parse(v);
    // The date-time format accepts a leap second (23:59:60), which Date cannot place.
    if (Number.isNaN(ms)) fields.push({ path: `${prefix}${key}`, message: 'must be a date-time Tether can place in time (no leap seconds)' });
    return Number.isNaN(ms) ? undefined : ms;
  };
  const after = instant('createdAfter');
  const before = instant('createdBefore');
  if (after !== undefined && before !== undefined && after >= before) {
    fields.push({ path: `${prefix}createdAfter`, message: `must be earlier than ${prefix}createdBefore` });
    fields.push({ path: `${prefix}createdBefore`, message: `must be later than ${prefix}createdAfter` });
  }
  if (after !== undefined) filter.createdAfter = after;
  if (before !== undefined) filter.createdBefore = before;
  return { filter, fields };
}

export interface BulkOptions {
  /** The create route's config check (schema, rules, allow-lists): a rerun is checked like a new run, as `/:id/rerun` does. */
  parseConfig: (config: unknown) => ResolvedRunConfig;
}

const ACTIONS: Array<{ action: BulkAction; operationId: string; summary: string; body: typeof BulkBody | typeof BulkCancelBody }> = [
  { action: 'cancel', operationId: 'bulkCancelRuns', summary: 'Cancel many runs (by ids or a filter); one result per run', body: BulkCancelBody },
  {
    action: 'retry-now',
    operationId: 'bulkRetryNowRuns',
    summary: 'Skip the backoff of many runs (by ids or a filter); one result per run',
    body: BulkBody,
  },
  {
    action: 'rerun',
    operationId: 'bulkRerunRuns',
    summary: 'Re-run many runs with their config (by ids or a filter); one result per run, with the new run ids',
    body: BulkBody,
  },
];

const DESCRIPTION = `Exactly one of \`ids\` (1–${MAX_BULK_RUNS}, each once) and \`filter\` (the list's status, name, derived, createdAfter, createdBefore; in list order, newest first). A filter matching more than ${MAX_BULK_RUNS} runs is 422 TETHER_BULK_TOO_MANY and nothing is done. Each run: \`done\`; \`eligible\` in a dry run (which changes nothing); \`skipped\` when the single-run action refuses it in its state (its 409 code: TETHER_RUN_FINAL, TETHER_NOT_IN_BACKOFF); \`failed\` otherwise (TETHER_RUN_NOT_FOUND, TETHER_RUN_DAMAGED, TETHER_UNAVAILABLE…). A 400 lists every field that is wrong.`;

/** The code of a coded error class, read from an instance once (the codes stay the single routes'). */
const CODE = {
  notFound: new Errors.runNotFound('').code,
  final: new Errors.runFinal('', '').code,
  notInBackoff: new Errors.notInBackoff('', '').code,
  unavailable: new Errors.unavailable('').code,
};

const bulk: FastifyPluginAsyncTypebox<BulkOptions> = async (app, opts) => {
  const { engine, clock } = app.tether;
  const { parseConfig } = opts;

  /** The runs a valid body names: its ids, or every run its filter matches (newest first). */
  const targetsOf = (body: { ids?: string[]; filter?: unknown }): string[] => {
    if (body.ids) return body.ids;
    const { filter } = readFilter(body.filter, 'filter.', new Set());
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = engine.listRuns({ ...filter, limit: 500, ...(cursor ? { cursor } : {}) });
      // Counted before anything is done: too many is refused whole.
      if (page.total > MAX_BULK_RUNS) throw new Errors.bulkTooMany(page.total, MAX_BULK_RUNS);
      for (const r of page.runs) ids.push(r.id);
      cursor = page.nextCursor;
    } while (cursor && ids.length < MAX_BULK_RUNS);
    return ids;
  };

  const result = (id: string, outcome: BulkRunResult['outcome'], extra: Partial<BulkRunResult> = {}): BulkRunResult => ({ id, outcome, ...extra });

  /** A run that could not be acted on for a reason other than its state. */
  const failure = (id: string, e: unknown, log: FastifyBaseLogger): BulkRunResult => {
    if (e instanceof RunDamagedError) return result(id, 'failed', { code: e.code, reason: e.message });
    if (e instanceof CommitError || (e as Error)?.name === 'StoreUnavailableError') {
      log.error({ runId: id, err: (e as Error).message }, 'bulk: commit failed');
      return result(id, 'failed', { code: CODE.unavailable, reason: 'storage is unavailable; nothing was changed for this run' });
    }
    const coded = e as { code?: unknown; statusCode?: unknown; message?: unknown };
    // A refusal with its own code and words (a rerun whose target is no longer allowed, a run grown too large).
    if (typeof coded.code === 'string' && coded.code.startsWith('TETHER_') && !(typeof coded.statusCode === 'number' && coded.statusCode >= 500))
      return result(id, 'failed', { code: coded.code, reason: String(coded.message) });
    log.error({ runId: id, err: e }, 'bulk: unexpected error');
    return result(id, 'failed', { code: 'TETHER_INTERNAL', reason: 'internal error; see the server log' });
  };

  /**
   * One run: decided from its committed document with the checks of the single route, then (not a dry run) acted on
   * with the single route's engine call. A run refused in its state is not dispatched: a bulk action over final runs
   * writes nothing for them (the single route records its refusal on the run's log). A run that changed between the
   * decision and the action is answered as the engine decided under the run's lock.
   */
  const one = async (action: BulkAction, id: string, dryRun: boolean, reason: string | undefined): Promise<BulkRunResult> => {
    const doc = await engine.getDoc(id);
    if (!doc) return result(id, 'failed', { code: CODE.notFound, reason: 'no such run' });
    const summary = toRunSummary(doc.snapshot);
    const final = (status: string) => result(id, 'skipped', { code: CODE.final, reason: `already final (${status})` });
    const notInBackoff = (state: string) => result(id, 'skipped', { code: CODE.notInBackoff, reason: `not waiting in backoff (state ${state})` });
    if (action === 'cancel') {
      if (isFinalRunStatus(summary.status)) return final(summary.status);
      if (dryRun) return result(id, 'eligible');
      const r = await engine.dispatch(id, { type: 'run.cancel', at: clock.now(), ...(reason ? { reason } : {}) }, { source: 'api' });
      if (!r) return result(id, 'failed', { code: CODE.notFound, reason: 'no such run' });
      return r.accepted ? result(id, 'done') : final(r.run.status);
    }
    if (action === 'retry-now') {
      if (!isInBackoff(summary)) return notInBackoff(summary.state);
      if (dryRun) return result(id, 'eligible');
      const r = await engine.dispatch(id, { type: 'run.retryNow', at: clock.now() }, { source: 'api' });
      if (!r) return result(id, 'failed', { code: CODE.notFound, reason: 'no such run' });
      return r.accepted ? result(id, 'done') : notInBackoff(r.run.state);
    }
    // rerun: as `/:id/rerun` without a payload: the same config, checked like a new run, rerunOf the source.
    const config = parseConfig({ ...doc.snapshot.context.config });
    if (dryRun) return result(id, 'eligible');
    const run = await engine.createRun(config, { rerunOf: doc.id });
    return result(id, 'done', { newRunId: run.id });
  };

  for (const { action, operationId, summary, body } of ACTIONS) {
    app.post(
      `/bulk/${action}`,
      {
        // The handler sees schema errors, to add the rules a schema cannot say (exactly one of ids and filter, an
        // empty created range) and answer one 400 naming every field.
        attachValidation: true,
        schema: {
          operationId,
          tags: ['runs'],
          security: [{ bearerAuth: [] }],
          summary,
          description: DESCRIPTION,
          body,
          response: { 200: BulkResult, 400: ErrorBody, 401: ErrorBody, 422: ErrorBody },
        },
      },
      async (req): Promise<BulkResult> => {
        const fields = schemaFields(req);
        const named = new Set(fields.map((f) => f.path));
        const raw: unknown = req.body;
        if (isRecord(raw)) {
          const ids = raw.ids !== undefined;
          const filter = raw.filter !== undefined;
          const rule: Array<[string, string]> =
            ids && filter
              ? [
                  ['ids', 'must not be given with filter: one of ids and filter'],
                  ['filter', 'must not be given with ids: one of ids and filter'],
                ]
              : !ids && !filter
                ? [
                    ['ids', 'or filter is required: one of ids and filter'],
                    ['filter', 'or ids is required: one of ids and filter'],
                  ]
                : [];
          for (const [path, message] of rule) if (!named.has(path)) fields.push({ path, message });
          if (isRecord(raw.filter)) fields.push(...readFilter(raw.filter, 'filter.', named).fields);
        }
        if (fields.length) throw invalidFields(fields);
        const b = raw as BulkCancelBody;
        const dryRun = b.dryRun === true;
        const ids = targetsOf(b);
        const results: BulkRunResult[] = new Array(ids.length);
        // A fixed number of workers take the next run as they finish one; each result goes to its run's place, so the
        // answer's order is the order asked whatever order the runs finish in.
        let next = 0;
        // Runs whose documents are cached are decided without any I/O, a chain of microtasks other requests cannot get
        // between: every few milliseconds the workers let the event loop turn.
        let slice = performance.now();
        const breathe = async () => {
          if (performance.now() - slice < YIELD_EVERY_MS) return;
          await new Promise<void>((resolve) => setImmediate(resolve));
          slice = performance.now();
        };
        const worker = async () => {
          while (next < ids.length) {
            const i = next++;
            const id = ids[i]!;
            results[i] = await one(action, id, dryRun, b.reason).catch((e: unknown) => failure(id, e, req.log));
            await breathe();
          }
        };
        await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, ids.length) }, worker));
        const counts = { done: 0, eligible: 0, skipped: 0, failed: 0 };
        for (const r of results) counts[r.outcome]++;
        if (!dryRun) req.log.info({ action, matched: ids.length, counts }, 'bulk action');
        return { action, dryRun, matched: ids.length, counts, results };
      },
    );
  }
};

export default bulk;
