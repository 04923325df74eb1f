/**
 * docs/operator-guide.md covers every command: each command of the CLI's tree (as `blockrig --help` lists
 * them, recursively) is named in the guide as `blockrig <command path>`, or as one of a group written
 * `blockrig <parent> a|b|c` (the form the guide uses for families of subcommands).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMAND_MODULES } from '../../src/cli/commands/index.js';

function commandPaths(): string[][] {
  const program = new Command('blockrig');
  for (const register of COMMAND_MODULES) register(program);
  const walk = (c: Command, path: string[]): string[][] => c.commands.flatMap((sub) => [[...path, sub.name()], ...walk(sub, [...path, sub.name()])]);
  return walk(program, []);
}

describe('operator guide', () => {
  it('names every command of the CLI', () => {
    const guide = readFileSync(new URL('../../docs/operator-guide.md', import.meta.url), 'utf8');
    const named = (path: string[]): boolean => {
      if (guide.includes(`blockrig ${path.join(' ')}`)) return true;
      // `blockrig task submit|list|show ...`
      const parent = path.slice(0, -1).join(' ');
      const last = path[path.length - 1] ?? '';
      const groups = guide.match(new RegExp(`blockrig ${parent} [a-z|-]+`, 'g')) ?? [];
      return groups.some((g) => g.slice(`blockrig ${parent} `.length).split('|').includes(last));
    };
    const paths = commandPaths();
    expect(paths.length).toBeGreaterThan(40);
    expect(paths.filter((p) => !named(p)).map((p) => p.join(' '))).toEqual([]);
  });
});
