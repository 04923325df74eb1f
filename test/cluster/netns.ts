/**
 * Two "hosts" for multi-host tests: network namespaces joined by a veth pair (their own /24), each also
 * joined to the test's namespace by its own veth pair so the test can reach the servers. Names and
 * addresses are unique per test process; everything made here is deleted by `destroy()`. Traffic goes
 * only to these namespaces.
 */
import { execFileSync } from 'node:child_process';

/** A pair of hosts. `addressOf(1)` is host 1's address on the host-to-host link. */
export interface TwoHosts {
  readonly ns: readonly [string, string];
  /** Address of host 1 or 2 on the link between the hosts (servers listen there). */
  addressOf(host: 1 | 2): string;
  /** Prefix for running a command inside host 1 or 2. */
  exec(host: 1 | 2): string[];
  /** Takes the host-to-host link down (true) or up again (false). */
  cutLink(cut: boolean): void;
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates two namespaces with a link between them and a link from the test to each. */
export function createTwoHosts(tag: string): TwoHosts {
  const n = 20 + (process.pid % 200);
  const id = `${tag}${process.pid % 100000}`;
  const ns: [string, string] = [`br6-${id}-h1`, `br6-${id}-h2`];
  const link = `b6l${process.pid % 100000}`;
  const made: string[] = [];
  const destroy = (): void => {
    for (const name of ns) {
      try {
        ip('netns', 'del', name);
      } catch {
        // not made
      }
    }
    for (const dev of made) {
      try {
        ip('link', 'del', dev);
      } catch {
        // gone with its namespace
      }
    }
  };
  try {
    for (const name of ns) ip('netns', 'add', name);
    // host-to-host link: 10.201.n.1 (h1) <-> 10.201.n.2 (h2)
    ip('link', 'add', `${link}a`, 'type', 'veth', 'peer', 'name', `${link}b`);
    made.push(`${link}a`);
    ip('link', 'set', `${link}a`, 'netns', ns[0]);
    ip('link', 'set', `${link}b`, 'netns', ns[1]);
    ip('-n', ns[0], 'addr', 'add', `10.201.${n}.1/24`, 'dev', `${link}a`);
    ip('-n', ns[1], 'addr', 'add', `10.201.${n}.2/24`, 'dev', `${link}b`);
    for (const [i, name] of ns.entries()) {
      const host = i + 1;
      const subnet = `10.${201 + host}.${n}`;
      ip('-n', name, 'link', 'set', 'lo', 'up');
      ip('-n', name, 'link', 'set', host === 1 ? `${link}a` : `${link}b`, 'up');
      // test <-> host link: 10.20{2,3}.n.254 (test) <-> .host (host)
      ip('link', 'add', `${link}t${host}`, 'type', 'veth', 'peer', 'name', `${link}h${host}`);
      made.push(`${link}t${host}`);
      ip('link', 'set', `${link}h${host}`, 'netns', name);
      ip('addr', 'add', `${subnet}.254/24`, 'dev', `${link}t${host}`);
      ip('link', 'set', `${link}t${host}`, 'up');
      ip('-n', name, 'addr', 'add', `${subnet}.${host}/24`, 'dev', `${link}h${host}`);
      ip('-n', name, 'link', 'set', `${link}h${host}`, 'up');
      // The test reaches the host's link address through its own veth (the host owns that address).
      ip('route', 'add', `10.201.${n}.${host}/32`, 'via', `${subnet}.${host}`);
    }
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    ns,
    addressOf: (host) => `10.201.${n}.${host}`,
    exec: (host) => ['ip', 'netns', 'exec', ns[host === 1 ? 0 : 1]],
    cutLink: (cut) => ip('-n', ns[0], 'link', 'set', `${link}a`, cut ? 'down' : 'up'),
    destroy,
  };
}
