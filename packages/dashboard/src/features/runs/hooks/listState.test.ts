import { describe, expect, it } from 'vitest';
import { summary } from '../../../test/fakeApi.ts';
import { fromLocalInput, toLocalInput } from './dateInput.ts';
import { listParams, matchesFilter, parseListState, showsNewest, sortDirection, toggleSort } from './listState.ts';

const parse = (qs: string) => parseListState(new URLSearchParams(qs));

describe('list state in the URL', () => {
  it('reads every parameter the API serves, and leaves out what it does not know', () => {
    expect(
      parse('status=failed&name=x&derived=exhausted&sort=duration&createdAfter=2026-03-01T00:00:00Z&createdBefore=2026-03-02&cursor=abc'),
    ).toEqual({
      status: 'failed',
      name: 'x',
      derived: 'exhausted',
      sort: 'duration',
      createdAfter: '2026-03-01T00:00:00.000Z',
      createdBefore: '2026-03-02T00:00:00.000Z',
      cursor: 'abc',
    });
    expect(parse('status=bogus&derived=stuck&sort=name&createdAfter=yesterday')).toEqual({
      status: null,
      name: '',
      derived: null,
      sort: '-createdAt',
      createdAfter: null,
      createdBefore: null,
      cursor: null,
    });
  });

  it('asks for a page of 50 with only the values given, so equal states are equal query keys', () => {
    expect(listParams(parse(''))).toEqual({ sort: '-createdAt', limit: 50 });
    expect(listParams(parse('name=a&cursor=c'))).toEqual({ name: 'a', sort: '-createdAt', limit: 50, cursor: 'c' });
  });

  it('a header click orders by its column, first in its natural direction, then the other way', () => {
    expect(toggleSort('-createdAt', 'createdAt')).toBe('createdAt');
    expect(toggleSort('createdAt', 'createdAt')).toBe('-createdAt');
    expect(toggleSort('-createdAt', 'updatedAt')).toBe('-updatedAt');
    expect(toggleSort('-createdAt', 'duration')).toBe('-duration');
    expect(toggleSort('-createdAt', 'status')).toBe('status');
    expect(sortDirection('-duration', 'duration')).toBe('descending');
    expect(sortDirection('-duration', 'createdAt')).toBeNull();
  });

  it('only the first page of the default order, with no upper bound, wants new runs', () => {
    expect(showsNewest(parse(''))).toBe(true);
    expect(showsNewest(parse('status=running'))).toBe(true);
    expect(showsNewest(parse('cursor=c'))).toBe(false);
    expect(showsNewest(parse('sort=createdAt'))).toBe(false);
    expect(showsNewest(parse('createdBefore=2026-03-02T00:00:00Z'))).toBe(false);
  });

  it('a new run counts as new only if it matches the filter as the server reads it', () => {
    const run = summary(1, { name: 'Nightly Export', status: 'running' });
    expect(matchesFilter(run, parse('name=export&status=running'))).toBe(true);
    expect(matchesFilter(run, parse('status=failed'))).toBe(false);
    expect(matchesFilter(run, parse(`name=${run.id}`))).toBe(false);
    expect(matchesFilter(run, parse('createdAfter=2030-01-01T00:00:00Z'))).toBe(false);
  });

  it('datetime-local values are local times; the URL holds the instant', () => {
    // vitest.config.ts pins TZ=UTC.
    expect(fromLocalInput('2026-03-02T09:30')).toBe('2026-03-02T09:30:00.000Z');
    expect(toLocalInput('2026-03-02T09:30:00.000Z')).toBe('2026-03-02T09:30');
    expect(fromLocalInput('')).toBeNull();
    expect(toLocalInput(null)).toBe('');
  });
});
