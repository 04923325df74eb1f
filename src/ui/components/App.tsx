/**
 * The dashboard: login, then the snapshot over the API and live events by SSE applied to it. Holds the
 * page's state; the panels only render it. Rate samples are taken on the page's own clock whenever a
 * task's reported bytes change.
 *
 * When its server dies the page follows the other server by itself and keeps the user logged in: it holds
 * a handoff ticket from its server (renewed every few minutes, in memory only), carries it in the new
 * page's URL fragment, and the new page redeems it for a session of that server before anything else.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ProgressSample, TaskControl, TaskRecord } from '../../wire/index.js';
import { taskProgress } from '../../wire/index.js';
import { ApiError, controlTask, handoffTicket, loadSnapshot, logout, redeemHandoff, whoAmI } from '../api.js';
import { connectLive } from '../live.js';
import { applyEvent, noteTask, noteVolume, otherServers, setConnection, sortedTasks, stateFromSnapshot, type DashboardState } from '../model.js';
import { ClusterPanel } from './ClusterPanel.js';
import { ConfirmDialog, type Confirmation } from './ConfirmDialog.js';
import { ConnectionBanner } from './ConnectionBanner.js';
import { EventLog } from './EventLog.js';
import { LoginForm } from './LoginForm.js';
import { ServersPanel } from './ServersPanel.js';
import { TaskForm } from './TaskForm.js';
import { TaskTable } from './TaskTable.js';

type Phase = { kind: 'checking' } | { kind: 'login' } | { kind: 'ready'; state: DashboardState };

const cameFrom = new URLSearchParams(location.search).get('from');

/** How often the page reloads its snapshot for heartbeat times and peer health. */
const REFRESH_MS = 5000;

/** How often the page renews its handoff ticket (they live 10 minutes). */
const TICKET_RENEW_MS = 4 * 60 * 1000;

/** The handoff ticket this page was opened with, taken out of the address bar at once. */
function takeHandoffTicket(): string | null {
  const ticket = new URLSearchParams(location.hash.slice(1)).get('handoff');
  if (ticket !== null) history.replaceState(null, '', `${location.pathname}${location.search}`);
  return ticket;
}

/** Records a progress sample when a task's bytes done moved. */
function sample(samples: Map<string, ProgressSample[]>, task: TaskRecord): void {
  const bytes = taskProgress(task)?.bytesDone;
  if (bytes === undefined) return;
  const list = samples.get(task.id) ?? [];
  if (list[list.length - 1]?.bytesDone === bytes) return;
  list.push({ atMs: performance.now(), bytesDone: bytes });
  samples.set(task.id, list.slice(-20));
}

/** The whole page. */
export function App() {
  const [phase, setPhase] = useState<Phase>({ kind: 'checking' });
  const [confirmation, setConfirmation] = useState<Confirmation | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [highlight, setHighlight] = useState<string | null>(null);
  const samples = useRef(new Map<string, ProgressSample[]>());
  const stateRef = useRef<DashboardState | null>(null);

  const update = useCallback((next: DashboardState) => {
    stateRef.current = next;
    setPhase({ kind: 'ready', state: next });
  }, []);

  const load = useCallback(async () => {
    try {
      const snapshot = await loadSnapshot();
      for (const t of snapshot.tasks) sample(samples.current, t);
      update(stateFromSnapshot(snapshot, stateRef.current ?? undefined));
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setPhase({ kind: 'login' });
      else setMessage(err instanceof Error ? err.message : String(err));
    }
  }, [update]);

  useEffect(() => {
    const ticket = takeHandoffTicket();
    // A refused ticket (expired, clocks too far apart) just leads to the login form.
    const redeemed = ticket === null ? Promise.resolve() : redeemHandoff(ticket).catch(() => undefined);
    void redeemed.then(() =>
      whoAmI().then(
        () => void load(),
        () => setPhase({ kind: 'login' }),
      ),
    );
  }, [load]);

  const ready = phase.kind === 'ready';
  useEffect(() => {
    if (!ready) return undefined;
    const at = (): string => new Date().toISOString();
    return connectLive({
      event: (event) => {
        const current = stateRef.current;
        if (!current) return;
        if (event.type === 'task.changed') sample(samples.current, event.task);
        update(applyEvent(current, event));
      },
      open: (reconnected) => {
        const current = stateRef.current;
        if (current) update(setConnection(current, 'live', 'live updates connected', at()));
        if (reconnected) void load();
      },
      closed: () => void load(),
      lost: () => {
        const current = stateRef.current;
        if (current) update(setConnection(current, 'lost', `server ${current.serverId} stopped answering`, at()));
      },
    });
  }, [ready, load, update]);

  const [ticket, setTicket] = useState<string | null>(null);
  useEffect(() => {
    if (!ready) return undefined;
    const renew = (): void => void handoffTicket().then(setTicket, () => undefined);
    renew();
    const timer = setInterval(renew, TICKET_RENEW_MS);
    return () => clearInterval(timer);
  }, [ready]);

  // Heartbeats and peer checks are not pushed as events: refresh the snapshot now and then while live.
  const live = ready && phase.state.connection === 'live';
  useEffect(() => {
    if (!live) return undefined;
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [live, load]);

  const control = useCallback((task: TaskRecord, c: TaskControl) => {
    controlTask(task.id, c).then(
      (next) => {
        if (stateRef.current) update(noteTask(stateRef.current, next));
        setMessage(null);
      },
      (err: unknown) => setMessage(err instanceof Error ? err.message : String(err)),
    );
  }, [update]);

  if (phase.kind === 'checking') return <p class="muted">Connecting…</p>;
  if (phase.kind === 'login') {
    const notice = cameFrom === null ? null : `Server ${cameFrom} stopped answering; log in here to carry on.`;
    return <LoginForm serverLabel={location.host} notice={notice} onLoggedIn={() => void load()} />;
  }
  const state = phase.state;
  const clusters = Object.values(state.clusters).sort((a, b) => a.id.localeCompare(b.id));
  return (
    <div class="page">
      <header>
        <h1>blockrig</h1>
        <ConnectionBanner serverId={state.serverId} connection={state.connection} others={otherServers(state)} follow={true} ticket={ticket} />
        <span class="grow" />
        <span class="muted">{state.user}</span>
        <button
          type="button"
          onClick={() =>
            void logout().finally(() => {
              stateRef.current = null;
              setPhase({ kind: 'login' });
            })
          }
        >
          Log out
        </button>
      </header>
      {cameFrom === null || cameFrom === state.serverId ? null : (
        <p class="banner notice" role="status" data-notice="followed">
          Server {cameFrom} stopped answering; the dashboard followed to server {state.serverId}, and you are still logged in.
        </p>
      )}
      {message === null ? null : (
        <p class="banner error" role="alert">
          {message}{' '}
          <button type="button" onClick={() => setMessage(null)}>
            Dismiss
          </button>
        </p>
      )}
      <div class="grid">
        <div class="main">
          <TaskForm
            clusters={clusters}
            confirm={setConfirmation}
            issued={(task) => {
              if (stateRef.current) update(noteTask(stateRef.current, task));
              setHighlight(task.id);
              setMessage(null);
            }}
          />
          <TaskTable tasks={sortedTasks(state)} samples={samples.current} control={control} confirm={setConfirmation} highlight={highlight} />
          {clusters.map((c) => (
            <ClusterPanel
              key={c.id}
              cluster={c}
              taskCount={Object.values(state.tasks).filter((t) => t.cluster === c.id).length}
              confirm={setConfirmation}
              volumeChanged={(clusterId, volume) => {
                if (stateRef.current) update(noteVolume(stateRef.current, clusterId, volume));
                setMessage(null);
              }}
            />
          ))}
          <ServersPanel servers={state.servers} clusters={clusters} agents={Object.values(state.agents).sort((a, b) => a.agentId.localeCompare(b.agentId))} />
        </div>
        <aside>
          <EventLog log={state.log} />
        </aside>
      </div>
      <ConfirmDialog confirmation={confirmation} onClose={() => setConfirmation(null)} />
    </div>
  );
}
