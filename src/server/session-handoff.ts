/**
 * Handing a dashboard login over to the other server (`docs/operator-guide.md`, "When a server dies").
 * Sessions are per server (each keeps its own token hashes), so a page that follows server B after server
 * A died would meet a login form. Instead, while A is alive, the logged-in page asks A for a handoff
 * ticket, holds it in memory only, and when A stops answering goes to B with the ticket in the URL
 * fragment (never sent in a request line, so never in a log); B's page redeems it for a session of its own.
 *
 * A ticket is `base64url(JSON {user, exp, nonce}).base64url(HMAC-SHA256(rig secret, that))`: any server of
 * the rig can check it without asking the one that issued it (which is dead by then). It lives 10 minutes
 * (the page renews it every few minutes), and each server accepts a nonce once. Its expiry is a wall-clock
 * time compared on another host, the one place blockrig does that: the clocks need only agree to within
 * the ticket's lifetime for a handoff to work, and disagreeing makes a handoff fail into the login form.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { UnauthorizedError } from '../errors.js';
import { parseAt } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { bearerToken, SESSION_COOKIE } from './http-support.js';

/** How long a handoff ticket may be redeemed. */
export const HANDOFF_TTL_MS = 10 * 60 * 1000;

const TicketBodySchema = z.strictObject({ user: z.string().min(1), exp: z.number().int(), nonce: z.string().min(16) });
const RedeemSchema = z.strictObject({ ticket: z.string().min(1).max(2048) });

/** Issues and redeems handoff tickets signed with the rig's secret. */
export class SessionHandoff {
  readonly #secret: string;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** Nonces redeemed here, with their expiry (wall ms). */
  readonly #used = new Map<string, number>();

  constructor(secret: string, clock: Clock, ttlMs = HANDOFF_TTL_MS) {
    this.#secret = secret;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  #sign(payload: string): Buffer {
    return createHmac('sha256', this.#secret).update(`blockrig-handoff\n${payload}`).digest();
  }

  /** A ticket for `user`, redeemable on any server of the rig until `expiresAt`. */
  issue(user: string): { ticket: string; expiresAt: string } {
    const exp = this.#clock.wallTime() + this.#ttlMs;
    const payload = Buffer.from(JSON.stringify({ user, exp, nonce: randomBytes(18).toString('base64url') })).toString('base64url');
    return { ticket: `${payload}.${this.#sign(payload).toString('base64url')}`, expiresAt: new Date(exp).toISOString() };
  }

  /** The user a ticket stands for; `UnauthorizedError` when it is forged, expired or already used here. */
  redeem(ticket: string): string {
    const refuse = (why: string): never => {
      throw new UnauthorizedError(`handoff refused: ${why}; log in with your user name and password`, { details: { field: 'ticket' } });
    };
    const [payload = '', signature = ''] = ticket.split('.');
    const expected = this.#sign(payload);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse('the ticket is not signed with this rig\'s secret');
    let body: unknown = null;
    try {
      body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      // Signed but not JSON: refused below like any malformed ticket.
    }
    const parsed = TicketBodySchema.safeParse(body);
    if (!parsed.success) return refuse('the ticket is malformed');
    const now = this.#clock.wallTime();
    if (parsed.data.exp < now) return refuse('the ticket has expired');
    for (const [nonce, exp] of this.#used) if (exp < now) this.#used.delete(nonce);
    if (this.#used.has(parsed.data.nonce)) return refuse('the ticket was already used');
    this.#used.set(parsed.data.nonce, parsed.data.exp);
    return parsed.data.user;
  }
}

/**
 * `POST /api/v1/session/handoff` (logged in): a ticket for the session's user.
 * `POST /api/v1/session/redeem` `{ticket}`: a session of this server for the ticket's user (cookie set).
 */
export function registerHandoffRoutes(app: FastifyInstance, ctx: ServerContext, handoff: SessionHandoff): void {
  app.post('/api/v1/session/handoff', (request) => handoff.issue(ctx.sessions.check(bearerToken(request)).user));

  app.post('/api/v1/session/redeem', (request, reply) => {
    const { ticket } = parseAt(RedeemSchema, request.body, 'redeem');
    const user = handoff.redeem(ticket);
    const { token, expiresAtWall } = ctx.sessions.open(user);
    void reply.header('set-cookie', `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`);
    return { token, user, expiresAt: new Date(expiresAtWall).toISOString() };
  });
}
