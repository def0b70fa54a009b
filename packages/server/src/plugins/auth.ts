/**
 * Optional bearer token (TETHER_API_TOKEN) for the runs API and the stream. Callbacks carry their own signature.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorBody } from './errors.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

/** Bearer token from the Authorization header, or `?token=` (browsers cannot set headers on a WebSocket). */
export function requestToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.startsWith('Bearer ')) return h.slice(7).trim();
  const q = (req.query as { token?: unknown } | undefined)?.token;
  return typeof q === 'string' ? q : undefined;
}

export function requireToken(token: string | null) {
  return async function (req: FastifyRequest, reply: FastifyReply) {
    if (token === null) return;
    if (!tokenMatches(token, requestToken(req))) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send(toErrorBody('TETHER_UNAUTHORIZED', 'Authorization: Bearer <TETHER_API_TOKEN> is required.'));
    }
  };
}
