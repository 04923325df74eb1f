/**
 * Preconditions of integration tests. A missing program or privilege fails the test with the same clear
 * message the product gives (naming the Debian package), never a silent skip: these suites are part of
 * the product and run in CI.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MissingDependencyError, PermissionError } from '../../src/errors.js';

/** Throws `MissingDependencyError` unless `command` is on PATH (or in /usr/sbin, /sbin). */
export function requireCommand(command: string, debianPackage: string): string {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  for (const dir of dirs) {
    if (dir !== '' && existsSync(join(dir, command))) return join(dir, command);
  }
  throw new MissingDependencyError(`the program "${command}"`, debianPackage);
}

/** Throws `PermissionError` unless the tests run as root (loop devices, tgtd, network namespaces). */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new PermissionError(`${what} needs root: run npm test as root (CI does)`);
}
