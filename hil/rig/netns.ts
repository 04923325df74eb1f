/**
 * Two "hosts" for a rig: network namespaces joined by a veth pair (their own /24), each also joined to
 * the harness's namespace by its own veth pair so the harness reaches the servers. Server A and the rig's
 * cluster (its agents) run in host 1, server B in host 2; cutting the host-to-host link partitions the
 * clusters. Names and addresses are unique per blockrig process and rig; `destroy()` deletes everything
 * made here (deleting a namespace deletes the veth ends inside it). Traffic stays on these links.
 * The multi-host tests (test/cluster) use it too.
 */
import { execFileSync } from 'node:child_process';
import { findProgram } from './processes.js';

/** Two hosts and the link between them. */
export interface RigHosts {
  readonly names: readonly [string, string];
  /** Address of host 1 or 2 on the host-to-host link (servers listen there). */
  addressOf(host: 1 | 2): string;
  /** Prefix that runs a command inside host 1 or 2. */
  exec(host: 1 | 2): string[];
  /** Takes the host-to-host link down (true) or up again (false). */
  cutLink(cut: boolean): void;
  destroy(): void;
}

let made = 0;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** True when an address of `cidr` is on an interface of this namespace. */
function subnetInUse(cidr: string): boolean {
  return execFileSync('ip', ['-o', 'addr', 'show', 'to', cidr], { encoding: 'utf8' }).trim() !== '';
}

/** Creates the two namespaces and three veth pairs; on any failure removes what it made and throws. */
export function createRigHosts(): RigHosts {
  const ipPath = findProgram('ip', 'iproute2');
  made++;
  // Subnets 10.211-213.n.0/24 with n from the pid and a counter, moved on past any n whose harness-side
  // subnet already has an address here, so parallel runs (the HIL, the multi-host tests) do not collide.
  let n = (process.pid * 7 + made) % 250;
  for (let tries = 0; tries < 250 && subnetInUse(`10.212.${n}.0/24`); tries++) n = (n + 1) % 250;
  const tag = `${process.pid % 100000}x${made}`;
  const names: [string, string] = [`hil-${tag}-h1`, `hil-${tag}-h2`];
  const link = `hl${tag}`;
  const links: string[] = [];
  const routes: string[] = [];
  const destroy = (): void => {
    for (const r of routes) {
      try {
        ip('route', 'del', r);
      } catch {
        // gone with its link
      }
    }
    for (const name of names) {
      try {
        ip('netns', 'del', name);
      } catch {
        // never made
      }
    }
    for (const dev of links) {
      try {
        ip('link', 'del', dev);
      } catch {
        // gone with its namespace
      }
    }
  };
  try {
    for (const name of names) ip('netns', 'add', name);
    ip('link', 'add', `${link}a`, 'type', 'veth', 'peer', 'name', `${link}b`);
    links.push(`${link}a`);
    ip('link', 'set', `${link}a`, 'netns', names[0]);
    ip('link', 'set', `${link}b`, 'netns', names[1]);
    ip('-n', names[0], 'addr', 'add', `10.211.${n}.1/24`, 'dev', `${link}a`);
    ip('-n', names[1], 'addr', 'add', `10.211.${n}.2/24`, 'dev', `${link}b`);
    for (const [i, name] of names.entries()) {
      const host = i + 1;
      const subnet = `10.${211 + host}.${n}`;
      ip('-n', name, 'link', 'set', 'lo', 'up');
      ip('-n', name, 'link', 'set', host === 1 ? `${link}a` : `${link}b`, 'up');
      ip('link', 'add', `${link}t${host}`, 'type', 'veth', 'peer', 'name', `${link}h${host}`);
      links.push(`${link}t${host}`);
      ip('link', 'set', `${link}h${host}`, 'netns', name);
      ip('addr', 'add', `${subnet}.254/24`, 'dev', `${link}t${host}`);
      ip('link', 'set', `${link}t${host}`, 'up');
      ip('-n', name, 'addr', 'add', `${subnet}.${host}/24`, 'dev', `${link}h${host}`);
      ip('-n', name, 'link', 'set', `${link}h${host}`, 'up');
      // The harness reaches a host's link address through that host's own veth.
      ip('route', 'add', `10.211.${n}.${host}/32`, 'via', `${subnet}.${host}`);
      routes.push(`10.211.${n}.${host}/32`);
    }
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    names,
    addressOf: (host) => `10.211.${n}.${host}`,
    exec: (host) => [ipPath, 'netns', 'exec', names[host === 1 ? 0 : 1]],
    cutLink: (cut) => ip('-n', names[0], 'link', 'set', `${link}a`, cut ? 'down' : 'up'),
    destroy,
  };
}
