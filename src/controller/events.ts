/**
 * What a controller reports as it works: claims, partition executions, completions, fencing. The CLI
 * writes partition executions to the `--audit` file; the simulator checks its safety properties on them.
 */

/** One thing a controller did, timed on the audit clock. */
export type ControllerEvent =
  | { type: 'claimed'; taskId: string; taskSlot: number; chunk: number; at: number }
  | { type: 'released'; taskId: string; taskSlot: number; chunk: number; at: number }
  | { type: 'partition-start'; taskId: string; partition: number; at: number; resumeFrom: number }
  | { type: 'partition-end'; taskId: string; partition: number; at: number; outcome: 'complete' | 'failed' | 'interrupted' }
  | { type: 'finalized'; taskId: string; status: string; at: number }
  | { type: 'fenced'; reason: string; at: number };

/** An event with who did it. */
export type AuditRecord = ControllerEvent & { controller: number; incarnation: number; pid: number };
