/**
 * Attempt-bound callback URLs. The signature is base64url HMAC-SHA256 over `runId.attemptId` (heartbeats sign
 * `runId.attemptId.heartbeat`, so a heartbeat URL cannot complete an attempt), with a server secret.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type SignaturePurpose = 'callback' | 'heartbeat';

export class Signer {
  private readonly base: () => string;

  /** `publicUrl` may be a function: a server on an ephemeral port knows its address only once it listens. */
  constructor(
    private readonly secret: Buffer,
    publicUrl: string | (() => string),
  ) {
    this.base = typeof publicUrl === 'function' ? publicUrl : () => publicUrl;
  }

  private mac(runId: string, attemptId: string, purpose: SignaturePurpose): Buffer {
    const message = purpose === 'callback' ? `${runId}.${attemptId}` : `${runId}.${attemptId}.heartbeat`;
    return createHmac('sha256', this.secret).update(message).digest();
  }

  sign(runId: string, attemptId: string, purpose: SignaturePurpose = 'callback'): string {
    return this.mac(runId, attemptId, purpose).toString('base64url');
  }

  /**
   * One HMAC per check (callbacks are the hot path): the expected signature text, compared with the given one.
   * The signature is compared as the exact text issued, never decoded first: base64url decoding skips stray characters
   * and ignores the spare bits of the last one, so `sig + "!"` or a changed last character would decode to the same bytes.
   * Constant time for input of the issued length: a signature's length is public (always 43 characters, all ASCII), so
   * only that is checked up front, in UTF-8 bytes — `timingSafeEqual` needs equal byte lengths, and a multi-byte
   * character would otherwise make a string of the right character count throw. Non-strings, empty and long text are
   * refused on their type or length alone.
   */
  verify(runId: string, attemptId: string, sig: unknown, purpose: SignaturePurpose = 'callback'): boolean {
    if (typeof sig !== 'string' || sig.length === 0) return false;
    const expected = Buffer.from(this.sign(runId, attemptId, purpose), 'utf8');
    if (sig.length !== expected.length || Buffer.byteLength(sig, 'utf8') !== expected.length) return false;
    return timingSafeEqual(Buffer.from(sig, 'utf8'), expected);
  }

  /** Hex HMAC-SHA256 of `message` with the callback secret: the completion webhook's `Tether-Signature` v1. */
  hmacHex(message: string): string {
    return createHmac('sha256', this.secret).update(message).digest('hex');
  }

  callbackUrl(runId: string, attemptId: string): string {
    return `${this.base()}/api/callbacks/${runId}/${attemptId}?sig=${this.sign(runId, attemptId)}`;
  }

  heartbeatUrl(runId: string, attemptId: string): string {
    return `${this.base()}/api/callbacks/${runId}/${attemptId}/heartbeat?sig=${this.sign(runId, attemptId, 'heartbeat')}`;
  }

  urlsFor = (runId: string, attemptId: string) => ({
    callbackUrl: this.callbackUrl(runId, attemptId),
    heartbeatUrl: this.heartbeatUrl(runId, attemptId),
  });
}

/**
 * Thrown instead of generating a secret when the data directory already holds runs: a new secret would silently
 * invalidate every callback URL handed out under the old one (their callbacks would all be refused as forged).
 * server.ts turns it into exit code 5.
 */
export class SecretMissingError extends Error {
  readonly code = 'TETHER_SECRET_MISSING';
  constructor(
    readonly file: string,
    /** The first file found that shows the directory holds runs, relative to the data directory. */
    readonly evidence: string,
  ) {
    super(
      `The callback secret ${file} is missing, but this data directory already holds runs (${evidence}). ` +
        'A new secret would make every callback URL already handed out stop verifying: their callbacks would be refused with 401. ' +
        'Restore the file from a backup, or set TETHER_SECRET to the secret those URLs were signed with. ' +
        'If those URLs no longer matter, write a new secret of 32 or more characters to the file yourself (mode 0600).',
    );
    this.name = 'SecretMissingError';
  }
}

/**
 * The first sign that `dataDir` holds runs — a run file (`runs/*.json`), a journal segment with content, or a non-empty
 * listing index — as a path relative to it; null when there is none (a fresh or empty directory). Temp files of an
 * interrupted write (dot-names) and empty journal segments or index files (created, never written to) do not count.
 */
export async function existingRunEvidence(dataDir: string): Promise<string | null> {
  const names = async (dir: string): Promise<string[]> => {
    try {
      return (await readdir(join(dataDir, dir))).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  };
  const size = async (rel: string): Promise<number> => {
    try {
      const st = await stat(join(dataDir, rel));
      return st.isFile() ? st.size : 0;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
  };
  const runFile = (await names('runs')).find((n) => !n.startsWith('.') && n.endsWith('.json'));
  if (runFile) return join('runs', runFile);
  for (const n of await names('journal')) {
    if (n.startsWith('.') || !n.endsWith('.jsonl')) continue;
    if ((await size(join('journal', n))) > 0) return join('journal', n);
  }
  if ((await size('index.jsonl')) > 0) return 'index.jsonl';
  return null;
}

/**
 * The secret comes from TETHER_SECRET, or from `<dataDir>/secret`, created on first start with mode 0600 — on first
 * start only: a missing file next to existing runs means the secret was lost, and is refused (SecretMissingError).
 */
export async function loadOrCreateSecret(dataDir: string, fromEnv?: string): Promise<Buffer> {
  if (fromEnv) return Buffer.from(fromEnv, 'utf8');
  const file = join(dataDir, 'secret');
  try {
    const text = (await readFile(file, 'utf8')).trim();
    if (text.length < 32) throw new Error(`${file}: secret is too short (${text.length} chars); delete it to generate a new one`);
    return Buffer.from(text, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const evidence = await existingRunEvidence(dataDir);
  if (evidence !== null) throw new SecretMissingError(file, evidence);
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return Buffer.from(secret, 'utf8');
}
