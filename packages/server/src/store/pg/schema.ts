/**
 * The PostgreSQL schema and its migrations. Run at every start under an advisory lock, so several nodes starting at
 * once apply each migration exactly once (the others wait, then find it applied).
 *
 * Tables, and why each is shaped so:
 * - tether_runs: one row per run — the run's head (its document without the log, timers and outbox), version (the
 *   fence: a commit names the version it was made from), summary for listing, `changed_ms` (the database's clock at
 *   the commit, for the catch-up poll). Updated in place once per event; fillfactor leaves room for HOT updates.
 * - tether_events: the log, one row per entry, (run_id, seq). A commit inserts one row (or replaces the last: a
 *   folded heartbeat), so a commit costs O(its change), not O(the run's history).
 * - tether_timers / tether_outbox: hot tables holding only live rows (a timer that fired, an answered trigger, a
 *   final run's rows are deleted by the commit that ends them). Each row carries its claim: the node that will fire
 *   or send it and until when; another node takes it over only once that has passed. A claim guards only an effect
 *   that may repeat (firing a timer, sending a trigger): the transition either causes is fenced by the run's version.
 * - tether_meta: the cluster's shared secret (generated once, by whichever node starts first).
 *
 * tether_commit() makes a whole commit one statement — one round trip, atomic, its own transaction — and does no
 * network I/O: the fence check, the head, the log entries, the timers and the outbox rows.
 */
import type pg from 'pg';

/** pg_advisory_lock key: "tether" in ASCII, so it is recognisable in pg_locks. */
const MIGRATION_LOCK = 0x746574686572;

const MIGRATIONS: string[] = [
  /* 1 */ `
  CREATE TABLE tether_meta (key text PRIMARY KEY, value text NOT NULL);

  CREATE TABLE tether_runs (
    id text PRIMARY KEY,
    version integer NOT NULL,
    status text NOT NULL,
    final boolean NOT NULL,
    attempt integer NOT NULL,
    summary json NOT NULL,
    head json NOT NULL,
    changed_ms bigint NOT NULL
  ) WITH (fillfactor = 80);
  CREATE INDEX tether_runs_changed ON tether_runs (changed_ms);

  CREATE TABLE tether_events (
    run_id text NOT NULL,
    seq integer NOT NULL,
    entry json NOT NULL,
    PRIMARY KEY (run_id, seq)
  );

  CREATE TABLE tether_timers (
    run_id text NOT NULL,
    key text NOT NULL,
    pos integer NOT NULL,
    due_at bigint NOT NULL,
    event_type text NOT NULL,
    owner text NOT NULL,
    claimed_until bigint NOT NULL,
    PRIMARY KEY (run_id, key)
  );
  CREATE INDEX tether_timers_due ON tether_timers (due_at);
  CREATE INDEX tether_timers_claim ON tether_timers (claimed_until);

  CREATE TABLE tether_outbox (
    run_id text NOT NULL,
    id text NOT NULL,
    pos integer NOT NULL,
    entry json NOT NULL,
    owner text NOT NULL,
    lease_until bigint NOT NULL,
    PRIMARY KEY (run_id, id)
  );
  CREATE INDEX tether_outbox_lease ON tether_outbox (lease_until);

  -- Returns 0 when committed; otherwise the run's actual version (-1: no such run) and nothing was written.
  CREATE FUNCTION tether_commit(
    p_id text, p_expected integer, p_status text, p_final boolean, p_attempt integer,
    p_summary json, p_head json, p_events json, p_timers json, p_outbox json,
    p_node text, p_now bigint, p_timer_lease bigint, p_outbox_lease bigint
  ) RETURNS integer LANGUAGE plpgsql AS $$
  DECLARE
    v integer;
    ms bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
  BEGIN
    IF p_expected = 0 THEN
      INSERT INTO tether_runs (id, version, status, final, attempt, summary, head, changed_ms)
      VALUES (p_id, 1, p_status, p_final, p_attempt, p_summary, p_head, ms)
      ON CONFLICT (id) DO NOTHING;
    ELSE
      UPDATE tether_runs SET version = p_expected + 1, status = p_status, final = p_final, attempt = p_attempt,
        summary = p_summary, head = p_head, changed_ms = ms
      WHERE id = p_id AND version = p_expected;
    END IF;
    IF NOT FOUND THEN
      SELECT version INTO v FROM tether_runs WHERE id = p_id;
      RETURN coalesce(v, -1);
    END IF;

    INSERT INTO tether_events (run_id, seq, entry)
    SELECT p_id, (e->>'seq')::integer, e FROM json_array_elements(p_events) e
    ON CONFLICT (run_id, seq) DO UPDATE SET entry = excluded.entry;

    IF p_final THEN
      DELETE FROM tether_timers WHERE run_id = p_id;
      DELETE FROM tether_outbox WHERE run_id = p_id;
      RETURN 0;
    END IF;

    -- Timers: a row whose due time did not change keeps its claim (the node that armed it still will fire it);
    -- a new or moved one is claimed by the committing node, which arms it as soon as this commit returns.
    DELETE FROM tether_timers t WHERE t.run_id = p_id AND NOT EXISTS (
      SELECT 1 FROM json_array_elements(p_timers) x WHERE x->>'key' = t.key AND (x->>'dueAt')::bigint = t.due_at);
    INSERT INTO tether_timers (run_id, key, pos, due_at, event_type, owner, claimed_until)
    SELECT p_id, x.value->>'key', x.ordinality::integer, (x.value->>'dueAt')::bigint, x.value->>'eventType', p_node,
      (x.value->>'dueAt')::bigint + p_timer_lease
    FROM json_array_elements(p_timers) WITH ORDINALITY x
    ON CONFLICT (run_id, key) DO UPDATE SET pos = excluded.pos;

    -- Outbox: an entry that stays keeps its lease (a node may be sending it now); a new one is the committer's to send.
    DELETE FROM tether_outbox o WHERE o.run_id = p_id AND NOT EXISTS (
      SELECT 1 FROM json_array_elements(p_outbox) x WHERE x->>'id' = o.id);
    INSERT INTO tether_outbox (run_id, id, pos, entry, owner, lease_until)
    SELECT p_id, x.value->>'id', x.ordinality::integer, x.value, p_node, p_now + p_outbox_lease
    FROM json_array_elements(p_outbox) WITH ORDINALITY x
    ON CONFLICT (run_id, id) DO UPDATE SET pos = excluded.pos, entry = excluded.entry;
    RETURN 0;
  END $$;
  `,
  /* 2: idempotent start. The key is unique across the cluster: two nodes creating with one key at once, one wins. */ `
  ALTER TABLE tether_runs ADD COLUMN idempotency_key text;
  CREATE UNIQUE INDEX tether_runs_idempotency_key ON tether_runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE OR REPLACE FUNCTION tether_set_idempotency_key() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    NEW.idempotency_key := NEW.summary->>'idempotencyKey';
    RETURN NEW;
  END $$;
  CREATE TRIGGER tether_runs_idempotency_key BEFORE INSERT ON tether_runs FOR EACH ROW EXECUTE FUNCTION tether_set_idempotency_key();
  `,
  /* 3: completion webhooks. A pending delivery's due time and a lease: the committing node tries it; another node
        takes it over only once the lease (10 s, renewed by every commit of the run) has run out. */ `
  ALTER TABLE tether_runs ADD COLUMN notify_due bigint, ADD COLUMN notify_lease bigint;
  CREATE INDEX tether_runs_notify_due ON tether_runs (notify_due) WHERE notify_due IS NOT NULL;
  CREATE OR REPLACE FUNCTION tether_set_notify_due() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.head->'notification'->>'state' = 'pending' THEN
      NEW.notify_due := coalesce((NEW.head->'notification'->>'nextAt')::bigint, 0);
      NEW.notify_lease := (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 10000;
    ELSE
      NEW.notify_due := NULL;
      NEW.notify_lease := NULL;
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER tether_runs_notify_due BEFORE INSERT OR UPDATE OF head ON tether_runs FOR EACH ROW EXECUTE FUNCTION tether_set_notify_due();
  `,
];

/** Brings the schema up to date; safe when several nodes run it at once. Returns the versions applied by this call. */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS tether_schema (version integer NOT NULL)');
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM tether_schema');
    for (let v = (rows[0]?.v ?? 0) + 1; v <= MIGRATIONS.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[v - 1]!);
        await client.query('INSERT INTO tether_schema (version) VALUES ($1)', [v]);
        await client.query('COMMIT');
        applied.push(v);
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return applied;
}

export const SCHEMA_VERSION = MIGRATIONS.length;
