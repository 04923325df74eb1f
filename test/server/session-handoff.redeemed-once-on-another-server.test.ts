/**
 * Handing a dashboard login to the other server: a ticket issued by one server is redeemed by another of
 * the same rig (same secret) once; a forged, tampered, expired or reused ticket is refused with a message
 * saying to log in.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isBlockrigError } from '../../src/errors.js';
import { SessionHandoff } from '../../src/server/session-handoff.js';

const SECRET = 'rig-secret-0123456789abcdef';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isBlockrigError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('not refused');
}

describe('session handoff tickets', () => {
  it('server B redeems a ticket server A issued, once', () => {
    const clock = new ManualClock();
    const a = new SessionHandoff(SECRET, clock);
    const b = new SessionHandoff(SECRET, clock);
    const { ticket, expiresAt } = a.issue('admin');
    expect(Date.parse(expiresAt)).toBe(clock.wallTime() + 10 * 60 * 1000);
    expect(b.redeem(ticket)).toBe('admin');
    expect(refusal(() => b.redeem(ticket))).toBe('BLOCKRIG_E_UNAUTHORIZED: handoff refused: the ticket was already used; log in with your user name and password');
  });

  it('refuses a ticket of another rig, a tampered one, garbage and an expired one', async () => {
    const clock = new ManualClock();
    const a = new SessionHandoff(SECRET, clock, 1000);
    const b = new SessionHandoff(SECRET, clock, 1000);
    expect(refusal(() => b.redeem(new SessionHandoff('another-rig-secret-0123456', clock).issue('admin').ticket))).toContain('not signed with this rig');
    const [payload = '', signature = ''] = a.issue('admin').ticket.split('.');
    const forged = Buffer.from(Buffer.from(payload, 'base64url').toString('utf8').replace('admin', 'root_')).toString('base64url');
    expect(refusal(() => b.redeem(`${forged}.${signature}`))).toContain('not signed with this rig');
    expect(refusal(() => b.redeem('not a ticket'))).toContain('not signed with this rig');
    const late = a.issue('admin').ticket;
    await clock.advance(1001);
    expect(refusal(() => b.redeem(late))).toContain('the ticket has expired');
  });
});
