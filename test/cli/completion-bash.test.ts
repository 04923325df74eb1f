/** `blockrig completion bash`: the generated script, loaded into a real bash, completes commands and options. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-completion-');

function complete(script: string, words: string[]): string[] {
  const bash = requireCommand('bash', 'bash');
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync(bash, ['-c', `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _blockrig; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.trim().split(/\s+/).filter((w) => w !== '');
}

describe('blockrig completion bash', () => {
  it('completes commands, subcommands and options from the command tree', () => {
    const r = runCli(['completion', 'bash']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('complete -o default -F _blockrig blockrig');
    const script = join(dir, 'blockrig.bash');
    writeFileSync(script, r.stdout);
    expect(complete(script, ['blockrig', 'sta'])).toEqual(['start', 'status']);
    expect(complete(script, ['blockrig', 'task', 'wa'])).toEqual(['watch']);
    expect(complete(script, ['blockrig', 'task', 'submit', 'checksum', '--cluster', 'c1', '--wa'])).toEqual(['--wait']);
    expect(complete(script, ['blockrig', 'devices', '--cl'])).toEqual(['--cluster']);
  });

  it('refuses other shells with exit 2', () => {
    const r = runCli(['completion', 'fish']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('only bash is supported');
  });
});
