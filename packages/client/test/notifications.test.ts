/** Completion notifications: `Tether-Signature: t=…,v1=…` (Stripe's scheme), signed and verified with Web Crypto. */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TetherError, signNotification, verifyNotification } from '../src/index.ts';

const SECRET = 'whsec_test_0123456789';
const T = 1_760_000_000;
const NOW = T * 1000;
const body = JSON.stringify({ type: 'run.finished', id: 'ntf_1', run: { id: 'run_1', status: 'succeeded' } });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TetherError);
    return (e as TetherError).code;
  }
  throw new Error('expected verifyNotification to throw');
}

describe('signNotification', () => {
  it('is t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>', async () => {
    const expected = createHmac('sha256', SECRET).update(`${T}.${body}`).digest('hex');
    expect(await signNotification(SECRET, body, T)).toBe(`t=${T},v1=${expected}`);
  });
  it('refuses a timestamp that is not whole unix seconds', async () => {
    await expect(signNotification(SECRET, body, 1.5)).rejects.toThrow(RangeError);
  });
});

describe('verifyNotification', () => {
  it('a valid signature returns the parsed notification (plain object, Headers, any header case)', async () => {
    const sig = await signNotification(SECRET, body, T);
    const expected = { type: 'run.finished', id: 'ntf_1', run: { id: 'run_1', status: 'succeeded' } };
    expect(await verifyNotification(SECRET, { 'tether-signature': sig }, body, { now: NOW })).toEqual(expected);
    expect(await verifyNotification(SECRET, { [SIGNATURE_HEADER]: sig }, body, { now: new Date(NOW + 10_000) })).toEqual(expected);
    expect(await verifyNotification(SECRET, new Headers({ 'Tether-Signature': sig }), body, { now: NOW })).toEqual(expected);
  });

  it('any one of several v1 signatures may match (secret rotation), in one header or several lines', async () => {
    const good = (await signNotification(SECRET, body, T)).split(',')[1]!;
    const old = (await signNotification('whsec_old', body, T)).split(',')[1]!;
    expect((await verifyNotification(SECRET, { 'tether-signature': `t=${T},${old},${good}` }, body, { now: NOW })).id).toBe('ntf_1');
    expect((await verifyNotification(SECRET, { 'tether-signature': [`t=${T},${old}`, good] }, body, { now: NOW })).id).toBe('ntf_1');
    expect(await codeOf(verifyNotification(SECRET, { 'tether-signature': `t=${T},${old}` }, body, { now: NOW }))).toBe('TETHER_SIGNATURE_INVALID');
  });

  it('a tampered body, a wrong secret or a moved timestamp is TETHER_SIGNATURE_INVALID', async () => {
    const sig = await signNotification(SECRET, body, T);
    const tampered = body.replace('succeeded', 'failed');
    expect(await codeOf(verifyNotification(SECRET, { 'tether-signature': sig }, tampered, { now: NOW }))).toBe('TETHER_SIGNATURE_INVALID');
    expect(await codeOf(verifyNotification('whsec_other', { 'tether-signature': sig }, body, { now: NOW }))).toBe('TETHER_SIGNATURE_INVALID');
    const moved = sig.replace(`t=${T}`, `t=${T + 1}`);
    expect(await codeOf(verifyNotification(SECRET, { 'tether-signature': moved }, body, { now: NOW }))).toBe('TETHER_SIGNATURE_INVALID');
  });

  it('a malformed header is TETHER_SIGNATURE_INVALID', async () => {
    for (const h of ['garbage', `t=${T}`, 'v1=abcd', `t=soon,v1=abcd`, `t=${T},t=${T},v1=abcd`]) {
      expect(await codeOf(verifyNotification(SECRET, { 'tether-signature': h }, body, { now: NOW })), h).toBe('TETHER_SIGNATURE_INVALID');
    }
  });

  it('a correct signature older (or newer) than the tolerance is TETHER_SIGNATURE_STALE', async () => {
    const sig = await signNotification(SECRET, body, T);
    const h = { 'tether-signature': sig };
    expect((await verifyNotification(SECRET, h, body, { now: NOW + 300_000 })).id).toBe('ntf_1');
    expect(await codeOf(verifyNotification(SECRET, h, body, { now: NOW + 301_000 }))).toBe('TETHER_SIGNATURE_STALE');
    expect(await codeOf(verifyNotification(SECRET, h, body, { now: NOW - 301_000 }))).toBe('TETHER_SIGNATURE_STALE');
    expect(await codeOf(verifyNotification(SECRET, h, body, { now: NOW + 61_000, toleranceSeconds: 60 }))).toBe('TETHER_SIGNATURE_STALE');
    expect((await verifyNotification(SECRET, h, body, { now: NOW + 86_400_000, toleranceSeconds: Infinity })).id).toBe('ntf_1');
    // Against the real clock, a signature from 2025 is long stale.
    expect(await codeOf(verifyNotification(SECRET, h, body))).toBe('TETHER_SIGNATURE_STALE');
  });

  it('a missing or empty header is TETHER_SIGNATURE_MISSING', async () => {
    expect(await codeOf(verifyNotification(SECRET, {}, body, { now: NOW }))).toBe('TETHER_SIGNATURE_MISSING');
    expect(await codeOf(verifyNotification(SECRET, { 'tether-signature': undefined }, body, { now: NOW }))).toBe('TETHER_SIGNATURE_MISSING');
    expect(await codeOf(verifyNotification(SECRET, { 'tether-signature': '' }, body, { now: NOW }))).toBe('TETHER_SIGNATURE_MISSING');
    expect(await codeOf(verifyNotification(SECRET, new Headers(), body, { now: NOW }))).toBe('TETHER_SIGNATURE_MISSING');
  });

  it('a signed body that is not a notification object is TETHER_NOTIFICATION_INVALID', async () => {
    for (const raw of ['not json', '[1,2]', '{"id":"x"}']) {
      const sig = await signNotification(SECRET, raw, T);
      expect(await codeOf(verifyNotification(SECRET, { 'tether-signature': sig }, raw, { now: NOW })), raw).toBe('TETHER_NOTIFICATION_INVALID');
    }
  });
});
