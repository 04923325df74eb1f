/** The event log: the live events this page received (and connection changes), newest first. */
import type { LogEntry } from '../model.js';
import { formatClock } from '../format.js';

/** Props of {@link EventLog}. */
export interface EventLogProps {
  log: LogEntry[];
}

/** Newest-first list of events. */
export function EventLog({ log }: EventLogProps) {
  const entries = [...log].reverse();
  return (
    <section class="panel" aria-label="event log">
      <h2>Event log</h2>
      <ol class="log">
        {entries.length === 0 ? <li class="muted">Waiting for events…</li> : null}
        {entries.map((e, i) => (
          <li key={`${e.id}-${i}`} data-type={e.type}>
            <span class="mono muted">{formatClock(e.at)}</span> <span class="tag">{e.cluster ?? e.type}</span> {e.text}
          </li>
        ))}
      </ol>
    </section>
  );
}
