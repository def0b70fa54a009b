import { describe, expect, it } from 'vitest';
import { formatAgo, formatCountdown, formatRelative, formatTime, isoOf, localizeInstants, zoneName } from './time.ts';

// 3 Dec 2026, 13:03:07.035 UTC: 14:03:07 in Berlin (CET, winter), 08:03:07 in New York (EST).
const AT = Date.parse('2026-12-03T13:03:07.035Z');
const berlin = { timeZone: 'Europe/Berlin', locale: 'en-GB' };

describe('formatTime: local time with the zone named', () => {
  it('shows only the clock on the same day, with the zone', () => {
    expect(formatTime(AT, AT + 60_000, berlin)).toBe('14:03:07 CET');
    expect(formatTime(AT, AT, { timeZone: 'UTC', locale: 'en-GB' })).toBe('13:03:07 UTC');
  });

  it('adds the date when the instant is not today, and the year when not this year', () => {
    expect(formatTime(AT, Date.parse('2026-12-04T09:00:00Z'), berlin)).toBe('3 Dec, 14:03:07 CET');
    expect(formatTime(AT, Date.parse('2027-01-02T09:00:00Z'), berlin)).toBe('3 Dec 2026, 14:03:07 CET');
  });

  it('decides "today" in the zone shown, not in UTC', () => {
    // 23:30 UTC on 3 Dec is already 4 Dec in Berlin: an instant at 00:10 Berlin time on 4 Dec is "today".
    const now = Date.parse('2026-12-03T23:30:00Z');
    expect(formatTime(Date.parse('2026-12-03T23:10:00Z'), now, berlin)).toBe('00:10:00 CET');
    expect(formatTime(Date.parse('2026-12-03T23:10:00Z'), now, { timeZone: 'UTC', locale: 'en-GB' })).toBe('23:10:00 UTC');
  });

  it('shows milliseconds where asked', () => {
    expect(formatTime(AT, AT, { ...berlin, ms: true })).toBe('14:03:07.035 CET');
  });

  it('names summer time as such, and each zone as the locale names it', () => {
    expect(formatTime(Date.parse('2026-07-01T12:00:00Z'), Date.parse('2026-07-01T13:00:00Z'), berlin)).toBe('14:00:00 CEST');
    expect(zoneName(AT, { timeZone: 'America/New_York', locale: 'en-US' })).toBe('EST');
    expect(formatTime(AT, AT, { timeZone: 'America/New_York', locale: 'en-US' })).toBe('08:03:07 EST');
    expect(zoneName(AT, { timeZone: 'Asia/Kolkata', locale: 'en-GB' })).toBe('GMT+5:30');
  });

  it('uses a 24-hour clock at midnight', () => {
    expect(formatTime(Date.parse('2026-12-03T23:00:05Z'), Date.parse('2026-12-03T23:30:00Z'), berlin)).toBe('00:00:05 CET');
  });

  it('keeps the exact instant for titles', () => {
    expect(isoOf(AT)).toBe('2026-12-03T13:03:07.035Z');
  });
});

describe('relative times', () => {
  it.each([
    [2_000, 'just now'],
    [12_400, '12 s ago'],
    [3 * 60_000 + 5_000, '3 min ago'],
    [2 * 3_600_000 + 60_000, '2 h ago'],
    [86_400_000 + 1, '1 day ago'],
    [3 * 86_400_000, '3 days ago'],
  ])('%s ms ago → %s', (ago, text) => {
    expect(formatAgo(AT - ago, AT)).toBe(text);
  });

  it('speaks of an upcoming instant as the countdown does', () => {
    expect(formatRelative(AT + 4 * 60_000 + 58_000, AT)).toBe('in 4:58');
    expect(formatRelative(AT - 180_000, AT)).toBe('3 min ago');
    expect(formatCountdown(298_000)).toBe('4:58');
  });
});

describe('localizeInstants: the server’s sentences in the page’s time', () => {
  it('rewrites every ISO instant in a sentence as local time with the zone named', () => {
    expect(localizeInstants('Attempt 2 of 4: awaiting callback until 2026-12-03T13:03:07.000Z.', AT, berlin)).toBe(
      'Attempt 2 of 4: awaiting callback until 14:03:07 CET.',
    );
    expect(localizeInstants('Timer due 2026-12-03T13:03:07.035Z fired 3 ms late; next 2026-12-05T08:00:00Z.', AT, berlin)).toBe(
      'Timer due 14:03:07.035 CET fired 3 ms late; next 5 Dec, 09:00:00 CET.',
    );
  });

  it('leaves a sentence without instants as it is', () => {
    expect(localizeInstants('Success accepted.', AT, berlin)).toBe('Success accepted.');
  });
});
