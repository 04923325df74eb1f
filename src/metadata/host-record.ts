/**
 * Host records (docs/on-disk-format.md, section 5): one ping-pong record per host slot, written only by
 * the process that holds the slot. Rewriting it is the heartbeat (a delta lease: peers judge liveness by
 * whether its bytes change), and it carries the host's one claim (on a chunk or on a task record).
 *
 * Payload, little-endian:
 *    0 u32 incarnation (bumped each time a process takes the slot)
 *    4 u32 state: 0 free, 1 joining, 2 live, 3 released
 *    8 u64 heartbeat counter
 *   16 u8[8] nonce, random per process, to tell two takers of one slot apart
 *   24 u32 pid                          44 u32 role: 1 controller, 2 client
 *   28 u32 claim present (0/1)          48 u64 wall time of the write (display only)
 *   32 u32 claim task slot              56 char[64] hostname, UTF-8
 *   36 u32 claim task id
 *   40 i32 claim index: chunk number, or -1 for the task record itself
 *  120 u32 device health JSON length (H), 0 when the host has seen no device error; then H bytes of JSON
 *      (an array of {@link DeviceHealth}, validated with zod when read). Records of 120 bytes have none.
 */
import { z } from 'zod';
import { readText, writeText } from './record.js';

/**
 * What a controller has seen of one target device's I/O (docs/on-disk-format.md, section 5, and
 * docs/agents-and-servers.md, "Device state from controllers' I/O"): listed once the device has failed an
 * I/O, so agents can record it unavailable with the controller's reason, and its return.
 */
export const deviceHealthSchema = z.object({
  /** Device URI as the task names it. */
  uri: z.string().min(1).max(512),
  /** I/O errors seen on it since this process started. */
  errors: z.number().int().min(0),
  /** True after `threshold` consecutive errors or an "unavailable" error, until an I/O succeeds again. */
  unavailable: z.boolean(),
  /** The last error's message (shortened). */
  message: z.string().max(200),
});
/** One device's I/O health as a controller reports it in its host record. */
export type DeviceHealth = z.infer<typeof deviceHealthSchema>;
/** At most this many devices are listed (the record must fit one block). */
export const MAX_DEVICE_HEALTH = 4;
const deviceHealthListSchema = z.array(deviceHealthSchema).max(MAX_DEVICE_HEALTH);

/** States of a host slot. */
export const HostState = { Free: 0, Joining: 1, Live: 2, Released: 3 } as const;
/** A host state number. */
export type HostState = (typeof HostState)[keyof typeof HostState];

/** Roles of a host. */
export const HostRole = { Controller: 1, Client: 2 } as const;
/** A host role number. */
export type HostRole = (typeof HostRole)[keyof typeof HostRole];

/** Index of a claim on a task slot's record rather than one of its chunks. */
export const TASK_RECORD_CLAIM = -1;

/** Something a host claims: a chunk of a task slot, or the task slot's record (index -1). */
export interface ClaimTarget {
  taskSlot: number;
  /** The task id the claimant meant; informational, the claim is on the slot and index. */
  taskId: number;
  index: number;
}

/** A decoded host record. */
export interface HostRecord {
  incarnation: number;
  state: HostState;
  heartbeat: number;
  nonce: Buffer;
  pid: number;
  claim: ClaimTarget | undefined;
  role: HostRole;
  wallTime: number;
  hostname: string;
  /** Devices this host has seen fail an I/O (absent or empty when none). */
  deviceHealth?: DeviceHealth[];
}

/** True when two claims name the same resource. */
export function sameResource(a: ClaimTarget, b: ClaimTarget): boolean {
  return a.taskSlot === b.taskSlot && a.index === b.index;
}

/** Encodes a host record payload. */
export function encodeHostRecord(r: HostRecord): Buffer {
  const p = Buffer.alloc(120);
  p.writeUInt32LE(r.incarnation >>> 0, 0);
  p.writeUInt32LE(r.state, 4);
  p.writeBigUInt64LE(BigInt(r.heartbeat), 8);
  r.nonce.copy(p, 16, 0, 8);
  p.writeUInt32LE(r.pid >>> 0, 24);
  p.writeUInt32LE(r.claim ? 1 : 0, 28);
  p.writeUInt32LE(r.claim?.taskSlot ?? 0, 32);
  p.writeUInt32LE((r.claim?.taskId ?? 0) >>> 0, 36);
  p.writeInt32LE(r.claim?.index ?? 0, 40);
  p.writeUInt32LE(r.role, 44);
  p.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(r.wallTime))), 48);
  writeText(p, 56, 64, r.hostname);
  if (r.deviceHealth === undefined || r.deviceHealth.length === 0) return p;
  const health = Buffer.from(JSON.stringify(r.deviceHealth), 'utf8');
  const out = Buffer.alloc(124 + health.length);
  p.copy(out, 0);
  out.writeUInt32LE(health.length, 120);
  health.copy(out, 124);
  return out;
}

/** Decodes a host record payload; returns a problem string for impossible field values. */
export function decodeHostRecord(p: Buffer): HostRecord | string {
  if (p.length < 120) return `host record payload is ${p.length} bytes, expected 120`;
  const state = p.readUInt32LE(4);
  const role = p.readUInt32LE(44);
  if (state > 3) return `host state ${state} is not 0-3`;
  if (role !== 1 && role !== 2) return `host role ${role} is not 1 or 2`;
  const present = p.readUInt32LE(28);
  let deviceHealth: DeviceHealth[] | undefined;
  if (p.length >= 124 && p.readUInt32LE(120) > 0) {
    const length = p.readUInt32LE(120);
    if (124 + length > p.length) return 'host record device health JSON runs past the payload';
    try {
      deviceHealth = deviceHealthListSchema.parse(JSON.parse(p.toString('utf8', 124, 124 + length)));
    } catch (err) {
      return `host record device health JSON does not validate: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`;
    }
  }
  return {
    incarnation: p.readUInt32LE(0),
    state: state as HostState,
    heartbeat: Number(p.readBigUInt64LE(8)),
    nonce: Buffer.from(p.subarray(16, 24)),
    pid: p.readUInt32LE(24),
    claim: present === 1 ? { taskSlot: p.readUInt32LE(32), taskId: p.readUInt32LE(36), index: p.readInt32LE(40) } : undefined,
    role: role,
    wallTime: Number(p.readBigUInt64LE(48)),
    hostname: readText(p, 56, 64),
    ...(deviceHealth === undefined ? {} : { deviceHealth }),
  };
}

/** Human name of a host state. */
export function hostStateName(s: HostState): string {
  return ['free', 'joining', 'live', 'released'][s] ?? 'unknown';
}
