/**
 * The undo stack of a rig: everything the run makes (a device opened, a loop device attached, a process
 * started, a port opened, a folder created) pushes how to undo it, and `run` undoes all of it newest first
 * whatever happened, so one failing step never leaves the others behind.
 */

/** See the module comment. */
export class Teardown {
  readonly #steps: { what: string; undo: () => Promise<void> | void }[] = [];

  /** Registers an undo step. */
  push(what: string, undo: () => Promise<void> | void): void {
    this.#steps.push({ what, undo });
  }

  /** Runs every step newest first; returns the problems met, one line each. */
  async run(): Promise<string[]> {
    const problems: string[] = [];
    while (this.#steps.length > 0) {
      const step = this.#steps.pop();
      if (step === undefined) break;
      try {
        await step.undo();
      } catch (err) {
        problems.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    return problems;
  }
}
