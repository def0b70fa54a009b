/**
 * Typed access to the JSON fixtures in ./fixtures. Each is checked against the wire schemas on load, so a fixture
 * re-recorded from the server (`*.server.json`) that drifts from the contract fails loudly instead of testing nothing.
 */
import { schemaErrors, type FieldError } from '@tether/machine';
import { Run, RunEventEntry, RunSummary } from '@tether/machine/protocol';
import seed from './fixtures/seed-timeout-then-success.machine.json';
import waiting from './fixtures/waiting-after-restart.machine.json';
import backoff from './fixtures/in-backoff.machine.json';
import exhausted from './fixtures/exhausted.machine.json';
import overdue from './fixtures/overdue.machine.json';
import notRetryable from './fixtures/not-retryable.machine.json';
import cancelled from './fixtures/cancelled.machine.json';

export interface RunFixture {
  name: string;
  description: string;
  /** The instant the fixture is looked at, epoch ms. */
  now: number;
  run: Run;
  summary: RunSummary;
  events: RunEventEntry[];
}

interface FixtureJson {
  fixture: string;
  description: string;
  now: string;
  run: unknown;
  summary: unknown;
  events: unknown[];
}

function load(json: FixtureJson): RunFixture {
  const errors: FieldError[] = [
    ...schemaErrors(Run, json.run).map((e) => ({ ...e, field: `run.${e.field}` })),
    ...schemaErrors(RunSummary, json.summary).map((e) => ({ ...e, field: `summary.${e.field}` })),
    ...json.events.flatMap((ev, i) => schemaErrors(RunEventEntry, ev).map((e) => ({ ...e, field: `events[${i}].${e.field}` }))),
  ];
  if (errors.length)
    throw new Error(`fixture ${json.fixture} does not match the wire schemas: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`);
  return {
    name: json.fixture,
    description: json.description,
    now: Date.parse(json.now),
    run: json.run as Run,
    summary: json.summary as RunSummary,
    events: json.events as RunEventEntry[],
  };
}

export const fixtures = {
  seed: load(seed),
  waiting: load(waiting),
  backoff: load(backoff),
  exhausted: load(exhausted),
  overdue: load(overdue),
  notRetryable: load(notRetryable),
  cancelled: load(cancelled),
};

export const allFixtures: RunFixture[] = Object.values(fixtures);

/**
 * Runs recorded from a real server by scripts/record-fixtures.ts (`*.server.json`), whatever scenarios are present.
 * Tests that hold for any run iterate over these as well as the machine-recorded ones.
 */
export const serverFixtures: RunFixture[] = Object.values(
  import.meta.glob<FixtureJson>('./fixtures/*.server.json', { eager: true, import: 'default' }),
).map(load);
