/**
 * Which targets a run may call. Only http and https, ever. TETHER_ALLOWED_TARGETS narrows further: an entry is a host
 * (any port), a host:port, or a URL prefix matched on the parsed origin and whole path segments — never as raw text, or
 * `https://api.example.com` would let `https://api.example.com.evil.net/` and `https://api.example.com@evil.net/` through.
 * This server's own simulator stays allowed, so the dashboard's presets keep working behind an allow-list.
 */
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { schemaErrors } from '@tether/machine';
import { SimulateSpec, type ErrorField } from '@tether/machine/protocol';
import type { Settings } from '../settings.ts';
import { Errors, summarize, withFields } from './errors.ts';

function matchesEntry(u: URL, entry: string): boolean {
  if (!entry.includes('://')) return u.hostname === entry || u.host === entry;
  const prefix = new URL(entry);
  if (u.origin !== prefix.origin) return false;
  if (prefix.pathname === '/' || u.pathname === prefix.pathname) return true;
  return u.pathname.startsWith(prefix.pathname.endsWith('/') ? prefix.pathname : `${prefix.pathname}/`);
}

const sameEndpoint = (u: URL, other: string): boolean => {
  const o = new URL(other);
  return u.origin === o.origin && u.pathname === o.pathname;
};

/** Refused for `target.url`: named in the message and in `fields`, so a form can show it by that field. */
const refused = (message: string, path = 'target.url') => {
  const field = { path, message };
  return withFields(new Errors.targetNotAllowed(summarize([field])), [field]);
};

/** `field`: which config field holds `url` (`target.url`, or `notify.url` for the completion webhook, allow-listed alike). */
export function checkTarget(
  url: string,
  settings: Pick<Settings, 'allowedTargets'>,
  ownSimulatorUrls: readonly string[] = [],
  field = 'target.url',
): void {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw refused('must use http or https', field);
  const allowed = settings.allowedTargets;
  if (allowed.length === 0) return;
  if (ownSimulatorUrls.some((s) => sameEndpoint(u, s))) return;
  if (!allowed.some((a) => matchesEntry(u, a))) throw refused(`${u.origin} is not in TETHER_ALLOWED_TARGETS`, field);
}

/** This server's simulator, under every name a browser or script on this machine may use for it. Empty when it is off. */
export function ownSimulatorUrls(app: FastifyInstance): string[] {
  if (!app.tether.settings.simulator) return [];
  const addr = app.server.address() as AddressInfo | null;
  const port = addr && typeof addr === 'object' ? addr.port : app.tether.settings.port;
  const bases = [app.tether.publicUrl(), `http://127.0.0.1:${port}`, `http://localhost:${port}`, `http://[::1]:${port}`];
  return bases.map((b) => `${b}/simulator/jobs`);
}

/**
 * What is wrong with `payload.simulate` of a run aimed at this server's own simulator, field by field: without this a
 * typo (`"sucess"`) was accepted (201) and only refused by the simulator at every trigger, until the run was exhausted.
 * A run aimed anywhere else may carry any `simulate` it likes.
 */
export function simulatorPayloadFields(body: unknown, ownSimulatorUrls: readonly string[]): ErrorField[] {
  const b = body as { target?: { url?: unknown }; payload?: unknown } | null;
  const url = b?.target?.url;
  if (typeof url !== 'string' || !URL.canParse(url)) return [];
  if (!ownSimulatorUrls.some((s) => sameEndpoint(new URL(url), s))) return [];
  const payload = b?.payload;
  if (payload === null || typeof payload !== 'object' || !('simulate' in payload)) return [];
  return schemaErrors(SimulateSpec, (payload as { simulate: unknown }).simulate).map((e) => ({
    path: e.field === '(body)' ? 'payload.simulate' : `payload.simulate.${e.field}`,
    message: e.message,
  }));
}
