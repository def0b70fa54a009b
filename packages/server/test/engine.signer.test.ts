/**
 * Signer.verify on its own: one HMAC (the expected text) compared byte for byte with the given text, after a length
 * check in UTF-8 bytes. The HTTP-level refusals live in hostile.callbacks.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Signer } from '../src/engine/signer.ts';

const signer = new Signer(Buffer.from('s'.repeat(40)), 'http://h');
const sig = signer.sign('run_x', 'att_x_1');
const verify = (v: unknown) => signer.verify('run_x', 'att_x_1', v);

describe('Signer.verify', () => {
  it('accepts the issued signature, 43 base64url characters', () => {
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verify(sig)).toBe(true);
    expect(signer.verify('run_x', 'att_x_1', signer.sign('run_x', 'att_x_1', 'heartbeat'), 'heartbeat')).toBe(true);
  });

  it('refuses every other length, including the empty string', () => {
    for (const v of ['', sig.slice(0, 1), sig.slice(0, -1), `${sig}A`, `${sig}=`, sig + sig, 'x'.repeat(10_000)]) {
      expect(verify(v), JSON.stringify(v.slice(0, 50))).toBe(false);
    }
  });

  it('refuses a change of the last character, even one that decodes to the same bytes', () => {
    const last = sig.at(-1)!;
    const variants = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_']
      .filter((c) => c !== last)
      .map((c) => sig.slice(0, -1) + c);
    expect(variants.some((v) => Buffer.from(v, 'base64url').equals(Buffer.from(sig, 'base64url')))).toBe(true);
    for (const v of variants) expect(verify(v), v).toBe(false);
  });

  it('refuses multi-byte characters in a string of the right character count, without throwing', () => {
    // Same .length as the signature, more UTF-8 bytes: timingSafeEqual would throw on the unequal buffers.
    const variants = [`${sig.slice(0, -1)}é`, `€${sig.slice(1)}`, `${sig.slice(0, -2)}😀`, 'é'.repeat(43), '\u0000'.repeat(43)];
    for (const v of variants) {
      expect(v.length).toBe(sig.length);
      expect(() => verify(v)).not.toThrow();
      expect(verify(v), JSON.stringify(v)).toBe(false);
    }
    // And a string of the right byte count but fewer characters.
    const short = `${sig.slice(0, -2)}é`;
    expect(Buffer.byteLength(short, 'utf8')).toBe(43);
    expect(verify(short)).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const v of [undefined, null, 42, ['x'], [sig], { toString: () => sig }, Buffer.from(sig)]) expect(verify(v)).toBe(false);
  });

  it('is bound to the run, the attempt and the purpose', () => {
    expect(signer.verify('run_y', 'att_x_1', sig)).toBe(false);
    expect(signer.verify('run_x', 'att_x_2', sig)).toBe(false);
    expect(signer.verify('run_x', 'att_x_1', sig, 'heartbeat')).toBe(false);
    expect(new Signer(Buffer.from('t'.repeat(40)), 'http://h').verify('run_x', 'att_x_1', sig)).toBe(false);
  });
});
