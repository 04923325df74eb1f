/**
 * What this build of the CLI can do, read from its own command tree, so the embedded rig uses each part
 * (metadata region, controllers, the region's task driver, volumes) as soon as it exists and says plainly
 * which parts it left out.
 */
import type { Command } from 'commander';

/** The parts the embedded rig can use. */
export interface RigCapabilities {
  /** `blockrig meta format URI`. */
  metaFormat: boolean;
  /** `blockrig controller run --meta URI --id N`. */
  controllers: boolean;
  /** `blockrig driver run KIND --meta URI --json`: the driver process agents invoke for each task. */
  regionTasks: boolean;
  /** `blockrig volume create|serve|fail|scrub`. */
  volumes: boolean;
}

function find(program: Command, path: readonly string[]): Command | undefined {
  let at: Command | undefined = program;
  for (const name of path) at = at?.commands.find((c) => c.name() === name);
  return at;
}

/** Reads the capabilities from the program's registered commands. */
export function detectCapabilities(program: Command): RigCapabilities {
  // Hidden options do not count: a command may declare an option only to refuse it clearly.
  const hasOption = (path: string[], flag: string): boolean => find(program, path)?.options.some((o) => o.long === flag && !o.hidden) === true;
  return {
    metaFormat: find(program, ['meta', 'format']) !== undefined,
    controllers: hasOption(['controller', 'run'], '--meta'),
    regionTasks: hasOption(['driver', 'run'], '--meta'),
    volumes: ['create', 'serve', 'fail', 'scrub'].every((c) => find(program, ['volume', c]) !== undefined),
  };
}
