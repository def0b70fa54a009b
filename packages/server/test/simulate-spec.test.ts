/**
 * A run aimed at this server's own simulator has its `payload.simulate` checked at creation: a typo (`"sucess"`) is a
 * 400 naming the field, with every other bad field of the request in the same answer — not a 201 whose every trigger
 * the simulator then refuses until the run is exhausted. A run aimed elsewhere may carry any `simulate`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ErrorBody } from '@tether/machine/protocol';
import { startServer, type TestServer } from './helpers/http-app.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

/** A config that is right but for what a test changes. */
const create = (body: Record<string, unknown>) =>
  server.request<ErrorBody>('POST', '/api/runs', { json: { timeoutSeconds: 60, retryLimit: 0, ...body } });
const pathsOf = (r: { body: ErrorBody }) => (r.body.error.fields ?? []).map((f) => f.path);

it('an unknown outcome and a bad delay are refused with both fields named', async () => {
  const res = await create({
    target: { url: `${server.base}/simulator/jobs` },
    payload: { simulate: { outcome: 'sucess', delaySeconds: -1 } },
  });
  expect(res.status).toBe(400);
  expect(pathsOf(res).sort()).toEqual(['payload.simulate.delaySeconds', 'payload.simulate.outcome']);
});

it('with a bad config field too, every field is in the one 400', async () => {
  const res = await create({
    target: { url: `${server.base}/simulator/jobs` },
    timeoutSeconds: -5,
    payload: { simulate: { outcome: 'sucess' } },
  });
  expect(res.status).toBe(400);
  expect(pathsOf(res)).toContain('timeoutSeconds');
  expect(pathsOf(res)).toContain('payload.simulate.outcome');
});

it('a known outcome is created; a run aimed elsewhere may carry any simulate', async () => {
  expect((await create({ target: { url: `${server.base}/simulator/jobs` }, payload: { simulate: { outcome: 'never' } } })).status).toBe(201);
  expect((await create({ target: { url: 'http://127.0.0.1:9/jobs' }, payload: { simulate: { outcome: 'sucess' } } })).status).toBe(201);
});
