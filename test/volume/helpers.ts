/**
 * Volumes over memory members for the volume suites: each member is a fault device over a memory device,
 * so a test can inject errors, take a member offline, or read and corrupt its medium directly.
 */
import { createFaultDevice, type FaultDevice } from '../../drivers/fault.js';
import { createMemoryDevice, type MemoryDevice } from '../../drivers/memory.js';
import { openDevice } from '../../drivers/index.js';
import { systemClock } from '../../src/clock.js';
import { Controller } from '../../src/controller/controller.js';
import { HostSession } from '../../src/controller/host-session.js';
import { openRegion } from '../../src/metadata/format.js';
import { HostRole } from '../../src/metadata/host-record.js';
import { defaultTaskKinds } from '../../src/tasks/kinds.js';
import type { TaskKindRegistry } from '../../src/tasks/registry.js';
import { createVolume, type Volume, type VolumeLevel } from '../../src/volume/index.js';

/** A member device and its medium. */
export interface TestMember {
  readonly device: FaultDevice;
  readonly medium: MemoryDevice;
}

/** Opens a memory member of `size` bytes wrapped in a fault device. */
export function makeMember(size: number, name = 'member', blockSize = 512): TestMember {
  const medium = createMemoryDevice({ size, logicalBlockSize: blockSize, uri: `memory://${name}?size=${size}` });
  return { device: createFaultDevice(medium), medium };
}

/** The smallest member count of each level used by the suites, and a wider one. */
export const LEVELS: readonly { level: VolumeLevel; members: number }[] = [
  { level: 'raid1', members: 3 },
  { level: 'raid5', members: 4 },
  { level: 'raid6', members: 5 },
];

/** Members a level survives losing. */
export function toleranceOf(level: VolumeLevel, members: number): number {
  return level === 'raid1' ? members - 1 : level === 'raid5' ? 1 : 2;
}

/** A volume over fresh members. */
export function makeVolume(level: VolumeLevel, count: number, memberSize: number, chunkSize = 64 * 1024, name = 'vol'): { volume: Volume; members: TestMember[] } {
  const members = Array.from({ length: count }, (_, i) => makeMember(memberSize, `${name}-m${i}`));
  const volume = createVolume({ name, level, chunkSize, members: members.map((m) => m.device) });
  return { volume, members };
}

/** Deterministic bytes from a seed (a xorshift stream), so failures replay. */
export function patternBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Three in-process controllers and a client session on one metadata region. */
export interface ControllerTrio {
  /** The default registry every controller process builds (the volume kinds included). */
  readonly kinds: TaskKindRegistry;
  /** Partitions each controller completed. */
  readonly completed: number[];
  /** A client session to submit and wait with. */
  readonly session: HostSession;
  /** Stops the controllers and leaves the session. */
  readonly stop: () => Promise<void>;
}

/**
 * Starts three controllers on the region of `meta`, each with its own device handle as separate processes
 * would have; controller 0 stops after its third completed partition, so the others must take the rest.
 */
export async function startControllerTrio(meta: string): Promise<ControllerTrio> {
  const kinds = defaultTaskKinds();
  const stops = [new AbortController(), new AbortController(), new AbortController()];
  const completed = [0, 0, 0];
  const controllers = await Promise.all(
    stops.map(async (_, i) =>
      Controller.start({
        region: await openRegion(await openDevice(meta)),
        clock: systemClock,
        kinds,
        openTarget: openDevice,
        onEvent: (e) => {
          if (e.type !== 'partition-end' || e.outcome !== 'complete') return;
          completed[i] = (completed[i] ?? 0) + 1;
          if (i === 0 && completed[0] === 3) stops[0]?.abort();
        },
      }),
    ),
  );
  const running = controllers.map((c, i) => c.run(stops[i]?.signal).catch((err: unknown) => err));
  const session = await HostSession.join({ region: await openRegion(await openDevice(meta)), clock: systemClock, role: HostRole.Client });
  return {
    kinds,
    completed,
    session,
    stop: async () => {
      for (const s of stops) s.abort();
      await Promise.all(running);
      await session.leave();
    },
  };
}
