/**
 * The `tether` command line, over the client. Exit codes: 0 done (a watched run succeeded), 1 the run failed, 2 the
 * run was cancelled, 3 the API answered with an error, 4 no answer (network), 5 `--wait-timeout` passed, 64 bad usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { isFinalRunStatus, RUN_STATUSES, type Run, type RunConfig, type RunSummary } from '@tether/machine/protocol';
import { Tether } from '../client.ts';
import { CLIENT_ERROR_CODES, TetherError } from '../errors.ts';
import { errorText, eventsTable, progressKey, progressLine, runDetails, runsTable } from './format.ts';

export const EXIT = { ok: 0, failed: 1, cancelled: 2, api: 3, network: 4, timeout: 5, usage: 64, internal: 70 } as const;

export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on Ctrl-C: a watch or a wait stops and tidies its line. */
  signal?: AbortSignal;
}

interface GlobalOptions {
  url: string;
  token?: string;
  json?: boolean;
}

/** A mistake in the command line itself, found before anything was sent. */
class UsageError extends Error {}

const exitForStatus = (status: string): number => (status === 'succeeded' ? EXIT.ok : status === 'cancelled' ? EXIT.cancelled : EXIT.failed);

/** A number when the text is one; otherwise the text itself, so that the server names the field and its rule. */
const numberOr = (v: string | undefined): number | string | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : v;
};

/** `--payload '{"a":1}'`, `--payload @file.json` (relative to where you ran the command), `--payload @-` (stdin). */
function readPayload(arg: string, io: Io): unknown {
  let text = arg;
  let from = '--payload';
  if (arg.startsWith('@')) {
    const path = arg.slice(1);
    from = path === '-' ? 'stdin' : path;
    if (path === '-') text = readFileSync(0, 'utf8');
    else {
      // `pnpm tether …` runs from the workspace root; INIT_CWD is where the command was typed.
      const bases = [io.env.INIT_CWD, io.cwd].filter((b): b is string => !!b);
      const file = isAbsolute(path) ? path : (bases.map((b) => resolve(b, path)).find((p) => existsSync(p)) ?? resolve(io.cwd, path));
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`--payload ${arg}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--payload: ${from} is not JSON (${(e as Error).message})`);
  }
}

function parseHeader(h: string, acc: Record<string, string> = {}): Record<string, string> {
  const i = h.indexOf(':');
  if (i <= 0) throw new UsageError(`--header "${h}": expected "Name: value"`);
  return { ...acc, [h.slice(0, i).trim()]: h.slice(i + 1).trim() };
}

const positiveInt = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${name} must be a whole number >= 1, got "${v}"`);
  return Number(v);
};

/** Renders a watch: on a TTY one line rewritten in place every second; otherwise a line per change. */
class Progress {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastKey = '';
  private run: Run | undefined;
  private drawn = false;

  constructor(private readonly io: Io) {}

  private get tty() {
    return !!this.io.stdout.isTTY;
  }

  update(run: Run) {
    this.run = run;
    if (this.tty) {
      this.draw();
      if (!this.timer && !isFinalRunStatus(run.status)) this.timer = setInterval(() => this.draw(), 1000);
    } else if (progressKey(run) !== this.lastKey) {
      this.lastKey = progressKey(run);
      this.io.stdout.write(`${progressLine(run, Date.now())}\n`);
    }
  }

  note(text: string) {
    if (this.tty) {
      this.clear();
      this.io.stderr.write(`${text}\n`);
      this.draw();
    } else this.io.stderr.write(`${text}\n`);
  }

  private draw() {
    if (!this.run) return;
    this.io.stdout.write(`\r\x1b[2K${progressLine(this.run, Date.now())}`);
    this.drawn = true;
  }

  private clear() {
    if (this.drawn) this.io.stdout.write('\r\x1b[2K');
    this.drawn = false;
  }

  /** Leaves the last line on screen and moves below it. */
  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.drawn) {
      this.draw();
      this.io.stdout.write('\n');
      this.drawn = false;
    }
  }
}

export function buildProgram(io: Io, setExit: (code: number) => void): Command {
  const program = new Command('tether');
  const out = (s: string) => io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  const err = (s: string) => io.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

  program
    .description('Start, list, watch and steer Tether runs.')
    .addOption(new Option('--url <url>', 'Tether server URL').env('TETHER_URL').default('http://127.0.0.1:3000'))
    .addOption(new Option('--token <token>', 'API token, sent as Authorization: Bearer').env('TETHER_API_TOKEN'))
    .option('--json', 'print raw JSON (the API’s shapes) instead of text, for scripts')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok / succeeded, 1 run failed, 2 run cancelled, 3 API error, 4 network error, 5 --wait-timeout passed, 64 usage error.',
    );

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();
  const clientOf = (g: GlobalOptions) => {
    try {
      return new Tether({ baseUrl: g.url, ...(g.token ? { token: g.token } : {}) });
    } catch (e) {
      throw new UsageError(`--url / TETHER_URL: ${(e as Error).message}`);
    }
  };
  const print = (g: GlobalOptions, value: unknown, text: () => string) => out(g.json ? JSON.stringify(value, null, 2) : text());

  /** The final run, as `runs watch` and `start --wait` end with it. */
  const finish = (g: GlobalOptions, run: Run, compact = false) => {
    if (g.json) out(JSON.stringify(run, null, compact ? undefined : 2));
    else out(`${run.id} ${run.status}: ${run.overallState}`);
    setExit(exitForStatus(run.status));
  };

  const runs = program.command('runs').description('Runs: start, list, get, watch, cancel, retry-now, rerun, events.');

  runs
    .command('start')
    .description('Create and start a run. Every field the server finds wrong is listed at once (exit 3).')
    .option('--target <url>', 'where each attempt’s trigger goes (target.url); required')
    .option('--timeout <seconds>', 'how long each attempt waits for its callback (timeoutSeconds); required')
    .option('--retries <n>', 'retries after the first attempt, 0 = one attempt (retryLimit); required')
    .option('--name <name>', 'human name, for filtering')
    .option('--payload <json|@file>', 'JSON passed to the external system; @file reads a file, @- stdin')
    .option('--method <method>', 'trigger method: POST or PUT')
    .option('--header <name:value>', 'extra trigger header, repeatable', parseHeader)
    .option('--backoff <seconds>', 'delay before the first retry (backoff.initialSeconds)')
    .option('--heartbeat-timeout <seconds>', 'an attempt with no heartbeat for this long times out')
    .option('--deadline <seconds>', 'overall budget from the start')
    .option('--idempotency-key <key>', 'the same key again returns the run it made instead of starting another')
    .option('--notify <url>', 'completion webhook: POST a signed run.finished here once the run is final (notify.url)')
    .option('--wait', 'wait until the run is final, then exit 0 succeeded / 1 failed / 2 cancelled')
    .option('--wait-timeout <seconds>', 'with --wait: give up after this long (exit 5)')
    .action(async (o: Record<string, string | boolean | Record<string, string> | undefined>, cmd: Command) => {
      const g = globals(cmd);
      const s = (k: string) => o[k] as string | undefined;
      const headers = (o.header as Record<string, string> | undefined) ?? {};
      const target: Record<string, unknown> = {
        ...(s('target') !== undefined ? { url: s('target') } : {}),
        ...(s('method') !== undefined ? { method: s('method')!.toUpperCase() } : {}),
        ...(Object.keys(headers).length ? { headers } : {}),
      };
      const config: Record<string, unknown> = {
        ...(s('name') !== undefined ? { name: s('name') } : {}),
        ...(s('target') !== undefined || Object.keys(target).length ? { target } : {}),
        ...(s('payload') !== undefined ? { payload: readPayload(s('payload')!, io) } : {}),
        ...(s('timeout') !== undefined ? { timeoutSeconds: numberOr(s('timeout')) } : {}),
        ...(s('retries') !== undefined ? { retryLimit: numberOr(s('retries')) } : {}),
        ...(s('backoff') !== undefined ? { backoff: { initialSeconds: numberOr(s('backoff')) } } : {}),
        ...(s('heartbeatTimeout') !== undefined ? { heartbeatTimeoutSeconds: numberOr(s('heartbeatTimeout')) } : {}),
        ...(s('deadline') !== undefined ? { deadlineSeconds: numberOr(s('deadline')) } : {}),
        ...(s('notify') !== undefined ? { notify: { url: s('notify') } } : {}),
      };
      let waitTimeoutMs = Infinity;
      if (s('waitTimeout') !== undefined) {
        const w = Number(s('waitTimeout'));
        if (!Number.isFinite(w) || w <= 0) throw new UsageError(`--wait-timeout must be a number of seconds > 0, got "${s('waitTimeout')}"`);
        waitTimeoutMs = w * 1000;
      }
      const tether = clientOf(g);
      // Not checked here: the server checks the config and lists every wrong field at once.
      const run = await tether.runs.create(config as RunConfig, {
        ...(s('idempotencyKey') !== undefined ? { idempotencyKey: s('idempotencyKey') } : {}),
      });
      if (!o.wait) {
        print(g, run, () => `${run.id} created: ${progressLine(run, Date.now())}`);
        return;
      }
      if (!g.json) err(`${run.id} created; waiting for it to finish…`);
      finish(g, await tether.runs.result(run.id, { timeoutMs: waitTimeoutMs, ...(io.signal ? { signal: io.signal } : {}) }));
    });

  runs
    .command('list')
    .description('List runs, newest first.')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(RUN_STATUSES))
    .option('--name <text>', 'only runs whose name contains this (case-insensitive)')
    .option('--limit <n>', 'show at most this many (pages are fetched as needed)', positiveInt('--limit'), 50)
    .action(async (o: { status?: RunSummary['status']; name?: string; limit: number }, cmd: Command) => {
      const g = globals(cmd);
      const found: RunSummary[] = [];
      const query = { ...(o.status ? { status: o.status } : {}), ...(o.name ? { name: o.name } : {}), limit: Math.min(500, o.limit) };
      for await (const r of clientOf(g).runs.list(query)) {
        found.push(r);
        if (found.length >= o.limit) break;
      }
      print(g, found, () => runsTable(found));
    });

  runs
    .command('get')
    .description('Show a run with its attempts.')
    .argument('<id>', 'run id (run_…)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const run = await clientOf(g).runs.get(id);
      print(g, run, () => runDetails(run));
    });

  runs
    .command('events')
    .description('Show a run’s event log.')
    .argument('<id>', 'run id (run_…)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const events = await clientOf(g).runs.events(id);
      print(g, events, () => eventsTable(events));
    });

  runs
    .command('watch')
    .description(
      'Follow a run live until it is final; exit 0 succeeded, 1 failed, 2 cancelled. With --json: one JSON document per line, each stream message, then the final run.',
    )
    .argument('<id>', 'run id (run_…)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const tether = clientOf(g);
      let run = await tether.runs.get(id);
      const progress = g.json ? undefined : new Progress(io);
      try {
        if (!isFinalRunStatus(run.status)) {
          progress?.update(run);
          const messages = tether.runs.watch(id, {
            ...(io.signal ? { signal: io.signal } : {}),
            onReconnect: ({ delayMs, reason }) => {
              const text = `stream ${reason}; reconnecting in ${(delayMs / 1000).toFixed(1)} s`;
              if (progress) progress.note(text);
              else err(text);
            },
          });
          for await (const m of messages) {
            if (g.json) out(JSON.stringify(m));
            if (m.type === 'run.updated') run = m.run;
            // A (re)connection: the summary says where the run is, the API has the rest (its attempts' timers).
            else if (m.type === 'snapshot') run = await tether.runs.get(id);
            else continue;
            progress?.update(run);
          }
          if (!isFinalRunStatus(run.status)) run = await tether.runs.get(id);
        }
      } finally {
        progress?.stop();
      }
      // With --json the output is one JSON document per line: the stream's messages, then the final run.
      finish(g, run, true);
    });

  runs
    .command('cancel')
    .description('Cancel a run that is not final.')
    .argument('<id>', 'run id (run_…)')
    .option('--reason <text>', 'why, recorded on the run')
    .action(async (id: string, o: { reason?: string }, cmd: Command) => {
      const g = globals(cmd);
      const run = await clientOf(g).runs.cancel(id, o.reason);
      print(g, run, () => `${run.id} ${run.status}: ${run.overallState}`);
    });

  runs
    .command('retry-now')
    .description('Skip the rest of the backoff and start the next attempt now.')
    .argument('<id>', 'run id (run_…)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const run = await clientOf(g).runs.retryNow(id);
      print(g, run, () => `${run.id}: ${progressLine(run, Date.now())}`);
    });

  runs
    .command('rerun')
    .description('Start a new run with the same config (payload replaced if given).')
    .argument('<id>', 'run id (run_…)')
    .option('--payload <json|@file>', 'replacement payload; @file reads a file, @- stdin')
    .option('--idempotency-key <key>', 'the same key again returns the run it made instead of starting another')
    .action(async (id: string, o: { payload?: string; idempotencyKey?: string }, cmd: Command) => {
      const g = globals(cmd);
      const run = await clientOf(g).runs.rerun(id, {
        ...(o.payload !== undefined ? { payload: readPayload(o.payload, io) } : {}),
        ...(o.idempotencyKey !== undefined ? { idempotencyKey: o.idempotencyKey } : {}),
      });
      print(g, run, () => `${run.id} created (rerun of ${id}): ${progressLine(run, Date.now())}`);
    });

  return program;
}

/** Runs the CLI; resolves with its exit code (it never calls process.exit). */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  const err = (s: string) => io.stderr.write(`${s}\n`);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its message; --help and --version "fail" with exit code 0.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof UsageError) {
      err(`error TETHER_CLI_USAGE: ${e.message}`);
      return EXIT.usage;
    }
    if (e instanceof TetherError) {
      err(errorText(e));
      if (e.code === CLIENT_ERROR_CODES.timeout) return EXIT.timeout;
      return e.status > 0 ? EXIT.api : EXIT.network;
    }
    if (io.signal?.aborted) return 130;
    err(`error TETHER_CLI_INTERNAL: ${(e as Error)?.stack ?? String(e)}`);
    return EXIT.internal;
  }
}
