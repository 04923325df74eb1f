/**
 * Children of `blockrig cluster up` stop when it goes, however it goes. The supervisor gives each child
 * an IPC channel; the operating system closes it when the supervisor exits, even by SIGKILL, and the
 * child then sends itself SIGTERM, so it stops the way an operator's SIGTERM would stop it. Without this,
 * an agent still stopping (or just restarted) when its supervisor was killed kept running on its own.
 */

/** Makes this process stop (SIGTERM to itself) when the parent that spawned it with an IPC channel exits. */
export function stopWithParent(): void {
  if (typeof process.send !== 'function' || process.channel === undefined) return;
  // The channel must not keep this process alive once its work is done.
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
