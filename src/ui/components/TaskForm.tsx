/**
 * Issue a task: cluster, kind, partitions and extra `name=value` arguments. Checked with the shared zod
 * schema before sending; a message (ours or the server's) is shown beside the field it names. Kinds that
 * overwrite data ask for confirmation first.
 */
import { useState } from 'preact/hooks';
import { TaskIssueSchema, TaskKindSchema, type TaskIssue, type TaskKind, type TaskRecord } from '../../wire/index.js';
import { ApiError, issueTask } from '../api.js';
import type { Confirmation } from './ConfirmDialog.js';

/** Task kinds that write over the data set. */
export const DESTRUCTIVE_KINDS: readonly TaskKind[] = ['fill'];

/** Props of {@link TaskForm}. */
export interface TaskFormProps {
  clusterIds: string[];
  confirm: (c: Confirmation) => void;
  issued: (task: TaskRecord) => void;
}

type Errors = Partial<Record<'cluster' | 'kind' | 'partitions' | 'args' | 'form', string>>;

/** Parses "seed=7 device=d0" into arguments; numbers stay numbers. Throws with a message on bad text. */
export function parseExtraArgs(text: string): Record<string, string | number> {
  const args: Record<string, string | number> = {};
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    const at = word.indexOf('=');
    if (at <= 0) throw new Error(`"${word}" is not name=value`);
    const value = word.slice(at + 1);
    args[word.slice(0, at)] = /^\d+$/.test(value) ? Number(value) : value;
  }
  return args;
}

/** The issue-a-task form. */
export function TaskForm({ clusterIds, confirm, issued }: TaskFormProps) {
  const [cluster, setCluster] = useState(clusterIds[0] ?? '');
  const [kind, setKind] = useState<string>('checksum');
  const [partitions, setPartitions] = useState('8');
  const [extra, setExtra] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  const send = async (issue: TaskIssue): Promise<void> => {
    setBusy(true);
    try {
      const task = await issueTask(issue);
      setErrors({});
      issued(task);
    } catch (err) {
      if (err instanceof ApiError) {
        const field = err.field?.split('.')[0];
        const key = field === 'cluster' || field === 'kind' ? field : err.field === 'args.partitions' ? 'partitions' : field === 'args' ? 'args' : 'form';
        setErrors({ [key]: err.message });
      } else setErrors({ form: String(err) });
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: Event): void => {
    e.preventDefault();
    const found: Errors = {};
    let args: Record<string, string | number> = {};
    try {
      args = parseExtraArgs(extra);
    } catch (err) {
      found.args = (err as Error).message;
    }
    if (!/^\d+$/.test(partitions) || Number(partitions) < 1) found.partitions = 'a whole number of partitions, at least 1';
    else args.partitions = Number(partitions);
    const parsed = TaskIssueSchema.safeParse({ cluster, kind, args });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const head = String(issue.path[0] ?? 'form');
        const key = head === 'cluster' || head === 'kind' ? head : head === 'args' ? 'args' : 'form';
        found[key] ??= issue.message;
      }
    }
    setErrors(found);
    if (Object.keys(found).length > 0 || !parsed.success) return;
    const issue = parsed.data;
    if (DESTRUCTIVE_KINDS.includes(issue.kind)) {
      confirm({
        title: `Overwrite data on cluster ${issue.cluster}?`,
        detail: `A ${issue.kind} task writes a pattern over the whole data set of cluster ${issue.cluster}. Data there is lost.`,
        confirmLabel: `Run ${issue.kind}`,
        run: () => void send(issue),
      });
      return;
    }
    void send(issue);
  };

  const err = (key: keyof Errors) =>
    errors[key] === undefined ? null : (
      <span class="field-error" role="alert" data-field={key}>
        {errors[key]}
      </span>
    );

  return (
    <form class="panel task-form" onSubmit={submit} aria-label="issue a task">
      <h2>Issue a task</h2>
      <div class="row">
        <label>
          Cluster
          <select name="cluster" value={cluster} onChange={(e) => setCluster(e.currentTarget.value)}>
            {clusterIds.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
            <option value="">(none)</option>
          </select>
          {err('cluster')}
        </label>
        <label>
          Kind
          <select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            {TaskKindSchema.options.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
          {err('kind')}
        </label>
        <label>
          Partitions
          <input name="partitions" inputMode="numeric" value={partitions} onInput={(e) => setPartitions(e.currentTarget.value)} />
          {err('partitions')}
        </label>
        <label class="grow">
          More arguments (name=value …)
          <input name="args" placeholder="seed=7" value={extra} onInput={(e) => setExtra(e.currentTarget.value)} />
          {err('args')}
        </label>
        <button type="submit" disabled={busy}>
          Issue
        </button>
      </div>
      {err('form')}
    </form>
  );
}
