/**
 * Connects to a target portal and logs in: the one way blockrig gets an `IscsiSession`.
 */
import type { Clock } from '../clock.js';
import { IscsiConnection } from './connection.js';
import { login } from './login.js';
import type { InitiatorOffer } from './negotiation.js';
import { IscsiSession } from './session.js';
import type { IscsiTargetAddress } from './uri.js';

/** Opens a TCP connection, logs in, and returns the session in its full feature phase. */
export async function openSession(address: IscsiTargetAddress, clock: Clock, offer?: InitiatorOffer): Promise<IscsiSession> {
  const conn = await IscsiConnection.open(address.host, address.port, clock, address.timeoutMs);
  try {
    const result = await login(conn, {
      initiatorName: address.initiatorName,
      targetName: address.targetName,
      ...(address.chap && { chap: address.chap }),
      ...(offer && { offer }),
      timeoutMs: address.timeoutMs,
    });
    return new IscsiSession(conn, result, clock, address.timeoutMs, address.keepaliveMs);
  } catch (err) {
    conn.destroy(err instanceof Error ? err : undefined);
    throw err;
  }
}
