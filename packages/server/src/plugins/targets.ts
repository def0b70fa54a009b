/** Which targets a run may call. Only http and https, ever; TETHER_ALLOWED_TARGETS narrows further (issue: safety). */
import type { Settings } from '../settings.ts';
import { Errors } from './errors.ts';

export function checkTarget(url: string, settings: Settings & { allowedTargets?: string[] }): void {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Errors.targetNotAllowed('target.url must use http or https');
  const allowed = settings.allowedTargets;
  if (!allowed || allowed.length === 0) return;
  const ok = allowed.some((a) => (a.includes('://') ? url.startsWith(a) : u.hostname === a || u.host === a));
  if (!ok) throw new Errors.targetNotAllowed(`target.url ${u.origin} is not in TETHER_ALLOWED_TARGETS`);
}
