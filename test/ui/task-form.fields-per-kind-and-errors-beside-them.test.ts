/**
 * The dashboard's issue-a-task form rules: each kind's fields become that kind's arguments, a problem is
 * placed beside the field it names (ours before sending, the server's `args.X` after), and kinds that
 * write over data ask first.
 */
import { describe, expect, it } from 'vitest';
import { buildIssue, confirmationFor, initialValues, slotOf, type TaskFieldValues } from '../../src/ui/task-form-fields.js';

const form = (over: Partial<TaskFieldValues>): TaskFieldValues => ({ ...initialValues('c1', 'v5'), ...over });

describe('issue-a-task form', () => {
  it('a volume scrub in check mode is the default and needs no confirmation', () => {
    const built = buildIssue(form({}));
    expect(built.issue).toEqual({ cluster: 'c1', kind: 'volume-scrub', args: { volume: 'v5', partitions: 8 } });
    if (built.issue === null) throw new Error('unreachable');
    expect(confirmationFor(built.issue)).toBeNull();
  });

  it('repair mode becomes repair=true and asks before rewriting', () => {
    const built = buildIssue(form({ mode: 'repair' }));
    expect(built.issue?.args).toEqual({ volume: 'v5', partitions: 8, repair: true });
    if (built.issue === null) throw new Error('unreachable');
    expect(confirmationFor(built.issue)?.title).toBe('Repair volume v5 on cluster c1?');
  });

  it('a rebuild takes the member; initialize asks first; fields of other kinds are left out', () => {
    expect(buildIssue(form({ kind: 'volume-rebuild', member: '1', seed: 'ff', target: '/x' })).issue?.args).toEqual({ volume: 'v5', member: 1, partitions: 8 });
    const init = buildIssue(form({ kind: 'volume-initialize', mode: 'repair' })).issue;
    expect(init?.args).toEqual({ volume: 'v5', partitions: 8 });
    if (!init) throw new Error('unreachable');
    expect(confirmationFor(init)?.confirmLabel).toBe('Initialize');
  });

  it('a copy takes the member and the new device, and asks first', () => {
    const copy = buildIssue(form({ kind: 'volume-copy', member: '2', to: '/rig/d4.img', partitions: '4' })).issue;
    expect(copy?.args).toEqual({ volume: 'v5', member: 2, to: '/rig/d4.img', partitions: 4 });
    if (!copy) throw new Error('unreachable');
    expect(confirmationFor(copy)?.title).toBe('Copy member 2 of v5 to /rig/d4.img?');
    expect(buildIssue(form({ kind: 'volume-copy', member: '2' })).errors).toEqual({ to: 'to: the URI of the device to copy to' });
  });

  it('problems are placed beside their fields', () => {
    expect(buildIssue(form({ volume: '' })).errors).toEqual({ volume: 'name the volume (as in the volume table)' });
    expect(buildIssue(form({ partitions: 'many' })).errors?.partitions).toBe('partitions: a whole number');
    expect(buildIssue(form({ partitions: '0' })).errors).toEqual({ partitions: 'at least 1 partition' });
    expect(buildIssue(form({ kind: 'verify', seed: '' })).errors?.seed).toContain('the seed the fill used');
    expect(buildIssue(form({ kind: 'verify', seed: 'zz' })).errors).toEqual({ seed: 'seed: 1-8 hex digits' });
    expect(buildIssue(form({ kind: 'fill', args: 'oops' })).errors).toEqual({ args: '"oops" is not name=value' });
    expect(Object.keys(buildIssue(form({ cluster: '' })).errors ?? {})).toEqual(['cluster']);
  });

  it("the server's field names map to the form's slots", () => {
    expect(slotOf('args.volume', 'volume-scrub')).toBe('volume');
    expect(slotOf('args.repair', 'volume-scrub')).toBe('mode');
    expect(slotOf('args.member', 'volume-rebuild')).toBe('member');
    expect(slotOf('args.colour', 'fill')).toBe('args');
    expect(slotOf('args.colour', 'volume-scrub')).toBe('form');
    expect(slotOf('cluster', 'fill')).toBe('cluster');
  });

  it('a fill asks before overwriting its target', () => {
    const fill = buildIssue(form({ kind: 'fill', target: '/dev/loop4' })).issue;
    if (!fill) throw new Error('unreachable');
    expect(confirmationFor(fill)?.detail).toContain('/dev/loop4');
  });
});
