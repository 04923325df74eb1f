/**
 * Parameters of the volume task kinds (`docs/volumes.md`, "Tasks across controllers"). They are part of the
 * interface other processes use to issue the kinds (the CLI's `task submit --param name=value`, agents and
 * servers), so each field is stable and documented there. Values may arrive as text (`--param repair=true`,
 * `--param rateLimit=8MiB`), so booleans and sizes accept their spelled-out forms.
 */
import { z } from 'zod';
import { parseSize } from '../../units.js';
import { parseWith } from '../../tasks/params.js';

/** true/false, also as the text "true"/"false"/"1"/"0"/"yes"/"no". */
const flag = z.union([
  z.boolean(),
  z
    .string()
    .regex(/^(true|false|1|0|yes|no)$/i, 'must be true or false')
    .transform((s) => /^(true|1|yes)$/i.test(s)),
  z.literal(0).transform(() => false),
  z.literal(1).transform(() => true),
]);

/** Bytes per second as a number or a size ("8MiB"). */
const rate = z.union([z.number().positive(), z.string()]).transform((v, ctx) => {
  try {
    const n = typeof v === 'number' ? v : parseSize(v, 'rateLimit');
    if (n > 0) return n;
    ctx.addIssue({ code: 'custom', message: 'must be a positive number of bytes per second' });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
  return z.NEVER;
});

const memberNumber = z.number().int().min(0).max(63);

/** Fields every volume kind takes. */
const common = {
  /** The volume's name in the volume table. */
  volume: z.string().min(1),
  /** URI of the metadata device holding the volume table. */
  meta: z.string().min(1),
  /** Rows per step between checkpoints (default: 8 MiB of member data). */
  stepRows: z.number().int().positive().max(4096).optional(),
  /** Most member bytes per second each controller works at on this task (default: no limit). */
  rateLimit: rate.optional(),
};

/** `volume-rebuild`: reconstruct member `member`, which a replace made rebuilding. */
export const RebuildParamsSchema = z.strictObject({ ...common, member: memberNumber, served: flag.default(true) });
/** `volume-scrub` (check, or `repair`) and `volume-initialize` (always repairs). */
export const ScrubParamsSchema = z.strictObject({ ...common, repair: flag.default(false) });
/** `volume-copy`: copy in-sync member `member` to the task's target, which then takes its slot. */
export const CopyParamsSchema = z.strictObject({ ...common, member: memberNumber, served: flag.default(true) });

/** Parsed parameters of each kind. */
export type RebuildParams = z.output<typeof RebuildParamsSchema>;
/** Parsed parameters of a scrub or initialize. */
export type ScrubParams = z.output<typeof ScrubParamsSchema>;
/** Parsed parameters of a copy. */
export type CopyParams = z.output<typeof CopyParamsSchema>;

/** Parses a kind's raw parameters; `InvalidArgumentError` names the field. */
export function parseVolumeParams<T>(schema: z.ZodType<T>, raw: unknown, kind: string): T {
  return parseWith(schema, raw, kind);
}

/**
 * Paces one partition run to `rateLimit` bytes per second: after each step, sleeps off any lead over the
 * limit measured from the run's start (a per-controller limit, since a controller runs one partition at a
 * time).
 */
export class StepPacer {
  readonly #limit: number | undefined;
  readonly #clock: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<void> };
  readonly #started: number;
  #bytes = 0;

  constructor(limit: number | undefined, clock: { now(): number; sleep(ms: number, signal?: AbortSignal): Promise<void> }) {
    this.#limit = limit;
    this.#clock = clock;
    this.#started = clock.now();
  }

  /** Counts `bytes` done and waits while ahead of the limit. */
  async step(bytes: number, signal: AbortSignal): Promise<void> {
    this.#bytes += bytes;
    if (this.#limit === undefined) return;
    const ahead = (this.#bytes / this.#limit) * 1000 - (this.#clock.now() - this.#started);
    if (ahead > 0) await this.#clock.sleep(ahead, signal);
  }
}
