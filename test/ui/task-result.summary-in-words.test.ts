/** A finished task's result in words, as the task table and `task show` print it. */
import { describe, expect, it } from 'vitest';
import { taskResultSummary } from '../../src/wire/index.js';

const done = (kind: string, result: unknown, extra: Record<string, unknown> = {}) => ({ kind, result: { outcome: { status: 'finished', result }, ...extra } }) as Parameters<typeof taskResultSummary>[0];

describe('task result summary', () => {
  it('says what each kind found', () => {
    expect(taskResultSummary(done('volume-scrub', { mismatchSectors: 1, repair: false }, { mismatchLocations: [{ partition: 2, offset: 2097152, length: 1048576 }] }))).toBe('1 mismatched sector at member bytes 2097152+1048576');
    expect(taskResultSummary(done('volume-scrub', { mismatchSectors: 3, repair: true }))).toBe('3 mismatched sectors (repaired)');
    expect(taskResultSummary(done('volume-initialize', { mismatchSectors: 0, repair: true }))).toBe('0 sectors rewritten');
    expect(taskResultSummary(done('volume-rebuild', { member: 1, unreadableRanges: 0 }))).toBe('member 1 rebuilt, 0 unreadable ranges');
    expect(taskResultSummary(done('verify', { mismatches: 0 }))).toBe('0 mismatches');
    expect(taskResultSummary(done('fill', { seedHex: '7f3a09c1' }))).toBe('pattern seed 7f3a09c1');
    expect(taskResultSummary(done('checksum', { crc32cOfPartitions: 'ab' }))).toBe('{"crc32cOfPartitions":"ab"}');
  });

  it('is null while there is no result (running, a stand-in driver, a progress line)', () => {
    expect(taskResultSummary({ kind: 'fill', result: null })).toBeNull();
    expect(taskResultSummary({ kind: 'fill', result: { event: 'progress', partitions: 4 } })).toBeNull();
  });
});
