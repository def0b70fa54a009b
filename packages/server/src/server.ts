/**
 * The runner: settings from the environment, listen, print where the dashboard is, close gracefully on signals.
 */
import { buildApp, loggerOptions } from './app.ts';
import { loadSettings, SettingsError } from './settings.ts';
import { SecretMissingError } from './engine/signer.ts';
import { DataDirLockedError } from './store/data-dir-lock.ts';
import { startupFailure } from './startup-errors.ts';
import { CorruptRunFileError } from './store/types.ts';
import { StoreUnavailableError } from './store/pg/pg-run-store.ts';
import type {} from './plugins/inspect.ts'; // types of `app.inspector` only; the plugin is loaded by app.ts when on

let startedOn: string | null = null;
/** The data directory the failing start was using, for its message (settings may not have loaded). */
const dataDirOf = () => startedOn ?? process.env.TETHER_DATA_DIR ?? './data';

async function main() {
  let settings;
  try {
    // `--inspect` after the script (`pnpm start -- --inspect`) is ours, not Node's: it turns the Stately inspector on.
    settings = loadSettings(process.env, process.argv.slice(2).includes('--inspect') ? { inspect: true } : {});
  } catch (e) {
    if (e instanceof SettingsError) {
      console.error(`Tether: bad setting: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  startedOn = settings.dataDir;
  const app = await buildApp({ settings, logger: loggerOptions(settings.logLevel, Boolean(process.stdout.isTTY)) });
  await app.listen({ host: settings.host, port: settings.port });
  const url = app.tether.publicUrl();
  const local = `http://${settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host}:${(app.server.address() as { port: number }).port}`;
  console.log(
    `\n  Tether is running.\n  Dashboard:  ${local}/\n  API docs:   ${local}/api/docs\n  Callbacks:  ${url}/api/callbacks/…\n  Data:       ${settings.dataDir}\n`,
  );
  if (settings.inspect) console.log(`  Inspector:  ${app.inspector.openUrl}  (Stately inspector; open it in a browser)\n`);
  if (!['127.0.0.1', 'localhost', '::1'].includes(settings.host) && !settings.apiToken) {
    app.log.warn(`listening on ${settings.host} without TETHER_API_TOKEN: anyone who can reach this port can create and cancel runs`);
  }

  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'stopping: finishing in-flight commits');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await app.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void close('SIGTERM'));
  process.on('SIGINT', () => void close('SIGINT'));
}

main().catch((e) => {
  if (e instanceof CorruptRunFileError) {
    console.error(`Tether: refusing to start. ${e.message}`);
    process.exit(3);
  }
  if (e instanceof DataDirLockedError) {
    console.error(`Tether: refusing to start. ${e.message}`);
    process.exit(4);
  }
  if (e instanceof SecretMissingError) {
    // Its own code, so an operator — or a process manager told not to restart on it (systemd RestartPreventExitStatus=5) —
    // can tell a lost secret from a crash: restarting cannot fix it.
    console.error(`Tether: refusing to start. ${e.message}`);
    process.exit(5);
  }
  if (e instanceof StoreUnavailableError) {
    // The message names the cause (connection refused, authentication failed…), never the URL: it may hold a password.
    console.error(`Tether: cannot start: ${e.message}. Check TETHER_DATABASE_URL and that PostgreSQL is running.`);
    process.exit(8);
  }
  const storage = startupFailure(e, dataDirOf());
  if (storage) {
    console.error(storage.line);
    process.exit(storage.exitCode);
  }
  console.error(e);
  process.exit(1);
});
