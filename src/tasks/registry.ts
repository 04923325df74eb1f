/**
 * Task kinds and their registry. A kind says how to run one partition of a task and which completion
 * actions to perform when every partition is COMPLETE. The volumes issue registers scrub and rebuild here;
 * controllers look kinds up by the name stored in the task record.
 */
import { InvalidArgumentError } from '../errors.js';
import type { PartitionState } from '../metadata/chunk-record.js';
import type { TaskRecord } from '../metadata/task-record.js';

/** What a kind's `runPartition` gets: one partition's instructions and guarded I/O on the task's target. */
export interface PartitionContext {
  taskId: number;
  /** Partition number within the task. */
  partition: number;
  /** First byte of the partition on the target. */
  offset: number;
  /** Bytes of the partition. */
  length: number;
  /** Bytes already done by an earlier execution (from the checkpoint); start here. */
  resumeFrom: number;
  /** The partial result recorded with that checkpoint (0 when starting fresh). */
  resumeResult: number;
  /** The kind's parameters, as returned by its `parseParams`. */
  params: Record<string, unknown>;
  /** Reads from the target; refused once the controller's lease is no longer valid. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Writes to the target; refused once the controller's lease is no longer valid. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /**
   * Records progress inside the partition (bytes done from its start, and the partial result) so that a
   * controller that takes over resumes there. The controller decides how often it reaches the disk.
   */
  checkpoint(bytesDone: number, partialResult: number): Promise<void>;
  /** Aborted when the controller fences itself or the task is cancelled. */
  signal: AbortSignal;
}

/** What the completion actions of a task get. */
export interface CompletionInput {
  task: TaskRecord;
  /** Per-partition results, indexed by partition. */
  results: readonly number[];
  states: readonly PartitionState[];
}

/** What the completion actions produced: a summary stored in the task record, and what was done. */
export interface CompletionOutput {
  result: Record<string, unknown>;
  actions: string[];
}

/** A kind of task. */
export interface TaskKind {
  readonly name: string;
  /** One line for `--help` and `task list`. */
  readonly summary: string;
  /** Validates parameters at submission (zod); throws `InvalidArgumentError` naming the field. */
  parseParams(raw: Record<string, unknown>, taskId: number): Record<string, unknown>;
  /** Runs one partition; resolves with its 32-bit result. Must be idempotent: it may run again after a crash. */
  runPartition(ctx: PartitionContext): Promise<number>;
  /** The completion actions, performed exactly once by the initiator (or a controller standing in for it). */
  complete(input: CompletionInput): Promise<CompletionOutput>;
  /** Releases what the kind holds open in this process (assembled volumes, their devices); optional. */
  close?(): Promise<void>;
}

/** The task kinds a process knows. */
export class TaskKindRegistry {
  readonly #kinds = new Map<string, TaskKind>();

  constructor(kinds: readonly TaskKind[] = []) {
    for (const k of kinds) this.register(k);
  }

  /** Adds a kind; a name may be registered once. */
  register(kind: TaskKind): void {
    if (this.#kinds.has(kind.name)) throw new InvalidArgumentError(`task kind "${kind.name}" is already registered`);
    this.#kinds.set(kind.name, kind);
  }

  /** The kind of that name; throws `InvalidArgumentError` listing the known kinds. */
  get(name: string): TaskKind {
    const k = this.#kinds.get(name);
    if (!k) throw new InvalidArgumentError(`unknown task kind "${name}"; known kinds: ${this.names().join(', ')}`, { details: { field: 'kind', value: name } });
    return k;
  }

  /** True when a kind of that name is registered. */
  has(name: string): boolean {
    return this.#kinds.has(name);
  }

  /** Names of every kind, sorted. */
  names(): string[] {
    return [...this.#kinds.keys()].sort();
  }

  /** Every kind. */
  list(): TaskKind[] {
    return this.names().map((n) => this.get(n));
  }

  /** Releases what every kind holds open; call when the process is done running and completing tasks. */
  async close(): Promise<void> {
    await Promise.allSettled(this.list().map((k) => k.close?.() ?? Promise.resolve()));
  }
}
