/**
 * Attempt-bound callback URLs. The signature is base64url HMAC-SHA256 over `runId.attemptId` (heartbeats sign
 * `runId.attemptId.heartbeat`, so a heartbeat URL cannot complete an attempt), with a server secret.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
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
 * The secret comes from TETHER_SECRET, or from `<dataDir>/secret`, created on first start with mode 0600.
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
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return Buffer.from(secret, 'utf8');
}
