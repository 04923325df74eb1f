/**
 * Authentication at the server. Agents prove they hold the shared cluster secret by signing a single-use
 * server nonce (HMAC-SHA256, compared in constant time) and then use a random bearer token; users log in
 * with name and password and get a session token (bearer header or HttpOnly cookie). Tokens are kept only
 * as SHA-256 hashes, and nothing here logs a secret.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';
import { UnauthorizedError } from '../errors.js';
import { registrationSigningText, type AgentRegistration } from '../wire/index.js';

/** Hex SHA-256 of a token: what the server keeps instead of the token. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new random bearer token. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Signs a registration the way agents do (exported for the agent and for tests of forged registrations). */
export function signRegistration(secret: string, registration: Omit<AgentRegistration, 'signature'>): string {
  return createHmac('sha256', secret).update(registrationSigningText(registration)).digest('hex');
}

function equalSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Issues nonces and checks signed agent registrations. */
export class AgentAuthenticator {
  readonly #secret: string;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #nonces = new Map<string, number>();

  constructor(secret: string, clock: Clock, ttlMs = 30_000) {
    this.#secret = secret;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** A fresh single-use nonce. */
  challenge(): { nonce: string; expiresInMs: number } {
    const now = this.#clock.now();
    for (const [n, due] of this.#nonces) if (due < now) this.#nonces.delete(n);
    const nonce = randomBytes(24).toString('base64url');
    this.#nonces.set(nonce, now + this.#ttlMs);
    return { nonce, expiresInMs: this.#ttlMs };
  }

  /** Throws `UnauthorizedError` unless the nonce is live and unused and the signature is right. Consumes the nonce. */
  verify(registration: AgentRegistration): void {
    const due = this.#nonces.get(registration.nonce);
    this.#nonces.delete(registration.nonce);
    if (due === undefined || due < this.#clock.now()) {
      throw new UnauthorizedError('agent registration refused: unknown, used or expired nonce; ask for a new challenge', { details: { field: 'nonce' } });
    }
    const { signature, ...rest } = registration;
    const expected = signRegistration(this.#secret, rest);
    if (!timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(signature, 'hex'))) {
      throw new UnauthorizedError('agent registration refused: bad signature (is the agent configured with this rig\'s cluster secret?)', {
        details: { field: 'signature' },
      });
    }
  }
}

/** A logged-in user's session. */
export interface UserSession {
  user: string;
  expiresAt: number;
}

/** User logins and session tokens. */
export class UserSessions {
  readonly #users: ReadonlyMap<string, string>;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #sessions = new Map<string, UserSession>();

  constructor(users: readonly { name: string; password: string }[], clock: Clock, ttlMs: number) {
    this.#users = new Map(users.map((u) => [u.name, u.password]));
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** Checks name and password; returns a new token and its expiry (wall ms). */
  login(user: string, password: string): { token: string; expiresAtWall: number } {
    const known = this.#users.get(user);
    // Compare even for unknown users so that timing does not tell which names exist.
    const ok = equalSecret(known ?? '\u0000no-such-user', password) && known !== undefined;
    if (!ok) throw new UnauthorizedError('login failed: wrong user name or password', { details: { field: 'password' } });
    return this.open(user);
  }

  /** A new session for a configured user whose identity was proven otherwise (a handoff ticket). */
  open(user: string): { token: string; expiresAtWall: number } {
    if (!this.#users.has(user)) throw new UnauthorizedError(`no user "${user}" is configured on this server`, { details: { field: 'user' } });
    const token = newToken();
    this.#sessions.set(tokenHash(token), { user, expiresAt: this.#clock.now() + this.#ttlMs });
    return { token, expiresAtWall: this.#clock.wallTime() + this.#ttlMs };
  }

  /** The session of a token, or `UnauthorizedError`. */
  check(token: string | undefined): UserSession {
    if (token === undefined || token === '') throw new UnauthorizedError('log in first: POST /api/v1/login, then send "Authorization: Bearer TOKEN"');
    const key = tokenHash(token);
    const session = this.#sessions.get(key);
    if (!session || session.expiresAt < this.#clock.now()) {
      this.#sessions.delete(key);
      throw new UnauthorizedError('the session token is unknown or expired: log in again');
    }
    return session;
  }

  /** Ends a session. */
  logout(token: string): void {
    this.#sessions.delete(tokenHash(token));
  }
}
