/**
 * A domain server knows both servers (claim 000/13): it checks every other configured server's health
 * endpoint now and then, so the API and UI can show which pair is up.
 */
import { repeatEvery, type Clock } from '../clock.js';
import { serverUrl } from '../cluster/config-file.js';
import type { ServerConfig, ServerView } from '../wire/index.js';

/** Periodic reachability checks of the other configured servers. */
export class PeerWatch {
  readonly #selfId: string;
  readonly #servers: readonly ServerConfig[];
  readonly #clock: Clock;
  readonly #state = new Map<string, { reachable: boolean; checkedAt: string; url: string | null }>();
  readonly #stop = new AbortController();

  constructor(selfId: string, servers: readonly ServerConfig[], clock: Clock) {
    this.#selfId = selfId;
    this.#servers = servers;
    this.#clock = clock;
  }

  /** Starts checking every `intervalMs` until `stop()`. */
  start(intervalMs: number): void {
    void repeatEvery(this.#clock, intervalMs, this.#stop.signal, () => Promise.all(this.#servers.filter((s) => s.id !== this.#selfId).map((s) => this.#check(s))));
  }

  /** Stops checking. */
  stop(): void {
    this.#stop.abort();
  }

  async #check(server: ServerConfig): Promise<void> {
    const url = serverUrl(server);
    let reachable = false;
    if (url !== null) {
      try {
        const res = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(2000) });
        reachable = res.ok;
        await res.body?.cancel();
      } catch {
        reachable = false;
      }
    }
    this.#state.set(server.id, { reachable, url, checkedAt: new Date(this.#clock.wallTime()).toISOString() });
  }

  /** Every configured server with what this server knows of it. */
  list(selfUrl: string | null): ServerView[] {
    return this.#servers.map((s) => {
      const known = this.#state.get(s.id);
      const self = s.id === this.#selfId;
      return {
        id: s.id,
        self,
        cluster: s.cluster ?? null,
        url: self ? selfUrl : (known?.url ?? s.url ?? null),
        reachable: self ? true : (known?.reachable ?? null),
        checkedAt: self ? null : (known?.checkedAt ?? null),
      };
    });
  }
}
