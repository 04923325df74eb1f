/**
 * Issue a task: cluster and kind, then the fields of that kind (a volume scrub's volume and check/repair
 * mode, a rebuild's member, a copy's member and new device, a verify's seed, ...). Checked with the shared zod schema before sending; a
 * message (ours or the server's) is shown beside the field it names. Kinds that write over data ask for
 * confirmation first. The rules are in `task-form-fields.ts`.
 */
import { useState } from 'preact/hooks';
import type { ClusterView, TaskIssue, TaskRecord } from '../../wire/index.js';
import { ApiError, issueTask } from '../api.js';
import { buildIssue, confirmationFor, FIELDS_OF_KIND, initialValues, KIND_CHOICES, slotOf, type ErrorSlot, type TaskField, type TaskFieldValues, type TaskFormErrors } from '../task-form-fields.js';
import type { Confirmation } from './ConfirmDialog.js';

/** Props of {@link TaskForm}. */
export interface TaskFormProps {
  clusters: ClusterView[];
  confirm: (c: Confirmation) => void;
  issued: (task: TaskRecord) => void;
}

/** The issue-a-task form. */
export function TaskForm({ clusters, confirm, issued }: TaskFormProps) {
  const first = clusters[0];
  const [values, setValues] = useState<TaskFieldValues>(() => initialValues(first?.id ?? '', first?.volumes[0]?.name ?? ''));
  const [errors, setErrors] = useState<TaskFormErrors>({});
  const [busy, setBusy] = useState(false);

  const cluster = clusters.find((c) => c.id === values.cluster);
  const volumes = cluster?.volumes ?? [];
  const volume = volumes.find((v) => v.name === values.volume);
  // A copy's target: a device of the cluster that no volume uses.
  const used = new Set(volumes.flatMap((v) => [...v.members.map((m) => m.uri), ...v.spares.map((s) => s.uri)]));
  const freeDevices = (cluster?.config?.devices ?? []).filter((d) => !used.has(d.uri));
  const shown = FIELDS_OF_KIND[values.kind as keyof typeof FIELDS_OF_KIND] ?? [];

  const set = (field: TaskField, value: string): void => {
    const next = { ...values, [field]: value };
    // A cluster's own volumes: changing the cluster picks its first volume.
    if (field === 'cluster') next.volume = clusters.find((c) => c.id === value)?.volumes[0]?.name ?? '';
    if (field === 'cluster' || field === 'volume') next.member = '';
    setValues(next);
    setErrors(({ [field]: _cleared, ...rest }) => rest);
  };

  const send = async (issue: TaskIssue): Promise<void> => {
    setBusy(true);
    try {
      const task = await issueTask(issue);
      setErrors({});
      issued(task);
    } catch (err) {
      if (err instanceof ApiError) setErrors({ [err.field === null ? 'form' : slotOf(err.field, issue.kind)]: err.message });
      else setErrors({ form: String(err) });
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: Event): void => {
    e.preventDefault();
    const built = buildIssue(values);
    if (built.issue === null) return setErrors(built.errors);
    setErrors({});
    const issue = built.issue;
    const ask = confirmationFor(issue);
    if (ask === null) return void send(issue);
    confirm({ ...ask, run: () => void send(issue) });
  };

  const err = (slot: ErrorSlot) =>
    errors[slot] === undefined ? null : (
      <span class="field-error" role="alert" data-field={slot}>
        {errors[slot]}
      </span>
    );
  const text = (field: TaskField, label: string, placeholder: string, grow = false) => (
    <label class={grow ? 'grow' : undefined}>
      {label}
      <input name={field} placeholder={placeholder} value={values[field]} onInput={(e) => set(field, e.currentTarget.value)} aria-invalid={errors[field] !== undefined} />
      {err(field)}
    </label>
  );

  return (
    <form class="panel task-form" onSubmit={submit} aria-label="issue a task" noValidate>
      <h2>Issue a task</h2>
      <div class="row">
        <label>
          Cluster
          <select name="cluster" value={values.cluster} onChange={(e) => set('cluster', e.currentTarget.value)}>
            {clusters.map((c) => (
              <option key={c.id} value={c.id}>
                {c.id}
              </option>
            ))}
            <option value="">(none)</option>
          </select>
          {err('cluster')}
        </label>
        <label>
          Task
          <select name="kind" value={values.kind} onChange={(e) => set('kind', e.currentTarget.value)}>
            {KIND_CHOICES.map((k) => (
              <option key={k.kind} value={k.kind}>
                {k.label}
              </option>
            ))}
          </select>
          {err('kind')}
        </label>
        {shown.includes('volume') ? (
          <label>
            Volume
            <select name="volume" value={values.volume} onChange={(e) => set('volume', e.currentTarget.value)}>
              <option value="">{volumes.length === 0 ? '(no volumes reported)' : '(choose)'}</option>
              {volumes.map((v) => (
                <option key={v.name} value={v.name}>
                  {v.name} ({v.level}, {v.state})
                </option>
              ))}
            </select>
            {err('volume')}
          </label>
        ) : null}
        {shown.includes('mode') ? (
          <label>
            Mode
            <select name="mode" value={values.mode} onChange={(e) => set('mode', e.currentTarget.value)}>
              <option value="check">check: count and locate mismatches</option>
              <option value="repair">repair: rewrite what does not match</option>
            </select>
            {err('mode')}
          </label>
        ) : null}
        {shown.includes('member') ? (
          <label>
            Member
            <select name="member" value={values.member} onChange={(e) => set('member', e.currentTarget.value)}>
              <option value="">{values.kind === 'volume-rebuild' ? '(the one being rebuilt)' : '(choose)'}</option>
              {(volume?.members ?? []).map((m) => (
                <option key={m.index} value={String(m.index)}>
                  {m.index}: {m.device ?? m.uri} ({m.state})
                </option>
              ))}
            </select>
            {err('member')}
          </label>
        ) : null}
        {shown.includes('to') ? (
          <label>
            Copy to
            <select name="to" value={values.to} onChange={(e) => set('to', e.currentTarget.value)}>
              <option value="">(choose a device)</option>
              {freeDevices.map((d) => (
                <option key={d.name} value={d.uri}>
                  {d.name} ({d.uri})
                </option>
              ))}
            </select>
            {err('to')}
          </label>
        ) : null}
        {shown.includes('target') ? text('target', 'Target device', 'URI (default: after the metadata region)') : null}
        {shown.includes('seed') ? text('seed', 'Seed', values.kind === 'verify' ? 'the fill’s seed (hex)' : 'hex (default: the task id)') : null}
        {shown.includes('partitions') ? text('partitions', 'Partitions', '8') : null}
        {shown.includes('args') ? text('args', 'More arguments (name=value …)', 'name=value', true) : null}
        <button type="submit" disabled={busy}>
          Issue
        </button>
      </div>
      {err('form')}
    </form>
  );
}
