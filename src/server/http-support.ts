/**
 * HTTP plumbing shared by the server's routes: credentials from a request, the JSON error body built from
 * the one error table, and fastify's own failures (bad JSON, wrong content type) turned into 4xx bodies.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BlockrigError, ERROR_TABLE, ErrorCode, InvalidArgumentError, mappingFor } from '../errors.js';
import type { ApiErrorBody } from '../wire/index.js';

/** Name of the session cookie the browser UI uses. */
export const SESSION_COOKIE = 'blockrig_session';

/** The bearer token of a request: `Authorization: Bearer X`, else the session cookie. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7).trim();
  const cookie = request.headers.cookie;
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const [name, ...value] = part.trim().split('=');
      if (name === SESSION_COOKIE) return decodeURIComponent(value.join('='));
    }
  }
  return undefined;
}

/** Converts anything thrown by a route into a blockrig error. */
export function toBlockrigError(err: unknown): BlockrigError {
  if (err instanceof BlockrigError) return err;
  const fe = err as Partial<FastifyError>;
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new InvalidArgumentError(`bad request: ${fe.message ?? 'invalid'}`, { details: { field: 'body', fastify: fe.code ?? null } });
  }
  return new BlockrigError(ErrorCode.Internal, err instanceof Error ? err.message : String(err));
}

/** Sends `{ error: { code, message, details } }` with the status from the error table. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toBlockrigError(err);
  const body: ApiErrorBody = { error: e.toJSON() };
  return reply.code(mappingFor(e).http).type('application/json').send(body);
}

/** Rebuilds an error an agent reported by code, so its HTTP status follows the table. */
export function errorFromCode(code: string, message: string): BlockrigError {
  const known = (Object.keys(ERROR_TABLE) as (keyof typeof ERROR_TABLE)[]).find((k) => k === code);
  return new BlockrigError(known ?? ErrorCode.Internal, message);
}
