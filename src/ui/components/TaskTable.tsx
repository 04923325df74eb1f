/**
 * Tasks newest first: state, executing agent (the pair that runs it), the server it was issued to,
 * partition cells, rate and ETA, the result in words once finished, and pause / resume / cancel. Cancel
 * asks for confirmation.
 */
import { FINAL_TASK_STATES, partitionCells, rateAndEta, taskProgress, taskResultSummary, type ProgressSample, type TaskControl, type TaskRecord } from '../../wire/index.js';
import { formatBytes, formatClock, formatEta, formatRate } from '../format.js';
import type { Confirmation } from './ConfirmDialog.js';
import { PartitionCells } from './PartitionCells.js';

/** Props of {@link TaskTable}. */
export interface TaskTableProps {
  tasks: TaskRecord[];
  samples: ReadonlyMap<string, ProgressSample[]>;
  control: (task: TaskRecord, control: TaskControl) => void;
  confirm: (c: Confirmation) => void;
  highlight: string | null;
}

function argsText(task: TaskRecord): string {
  const words = Object.entries(task.args).map(([k, v]) => `${k}=${String(v)}`);
  return words.length === 0 ? '-' : words.join(' ');
}

/** The task list with live progress and controls. */
export function TaskTable({ tasks, samples, control, confirm, highlight }: TaskTableProps) {
  return (
    <section class="panel" aria-label="tasks">
      <h2>Tasks</h2>
      <table class="tasks">
        <thead>
          <tr>
            <th>Task</th>
            <th>Cluster</th>
            <th>Kind</th>
            <th>State</th>
            <th>Partitions</th>
            <th>Progress</th>
            <th>Rate / ETA</th>
            <th>Executor (pair)</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {tasks.length === 0 ? (
            <tr>
              <td colSpan={9} class="muted">
                No tasks yet. Issue one above.
              </td>
            </tr>
          ) : null}
          {tasks.map((t) => {
            const progress = taskProgress(t);
            const cells = partitionCells(progress);
            const done = FINAL_TASK_STATES.includes(t.state);
            const { rate, etaSeconds } = rateAndEta(samples.get(t.id) ?? [], progress?.length);
            const bytes = progress?.bytesDone === undefined ? null : `${formatBytes(progress.bytesDone)}${progress.length === undefined ? '' : ` of ${formatBytes(progress.length)}`}`;
            return (
              <tr key={t.id} data-task={t.id} data-state={t.state} class={highlight === t.id ? 'highlight' : ''}>
                <td class="mono" title={`${t.id}\nissued ${formatClock(t.createdAt)} via server ${t.issuedVia}\n${argsText(t)}`}>
                  {t.id.slice(0, 10)}
                </td>
                <td>{t.cluster}</td>
                <td>
                  {t.kind}
                  {taskResultSummary(t) === null ? null : (
                    <div class="muted" data-role="result">
                      {taskResultSummary(t)}
                    </div>
                  )}
                </td>
                <td>
                  <span class={`state ${t.state}`}>{t.state}</span>
                  {t.control === null ? null : <span class="muted"> ({t.control} requested)</span>}
                  {t.error === null ? null : <div class="field-error">{t.error}</div>}
                </td>
                <td>
                  <PartitionCells cells={cells} />
                </td>
                <td>{bytes ?? (done ? '-' : 'running')}</td>
                <td>{done ? `finished ${formatClock(t.updatedAt)}` : `${formatRate(rate)} · ETA ${formatEta(etaSeconds)}`}</td>
                <td title={t.executors.map((e) => `${e.agentId} pid ${e.pid} on ${e.host}`).join('\n')}>
                  {t.executor?.agentId ?? '-'}
                  {t.executors.length > 1 ? <span class="muted"> (after {t.executors.length - 1} takeover)</span> : null}
                </td>
                <td class="actions">
                  {done ? null : t.state === 'paused' ? (
                    <button type="button" onClick={() => control(t, 'resume')}>
                      Resume
                    </button>
                  ) : (
                    <button type="button" onClick={() => control(t, 'pause')}>
                      Pause
                    </button>
                  )}
                  {done ? null : (
                    <button
                      type="button"
                      class="danger"
                      onClick={() =>
                        confirm({
                          title: `Cancel task ${t.id.slice(0, 10)}?`,
                          detail: `The ${t.kind} task on cluster ${t.cluster} stops; its driver process is terminated. Partitions already done stay done.`,
                          confirmLabel: 'Cancel the task',
                          run: () => control(t, 'cancel'),
                        })
                      }
                    >
                      Cancel
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
