/**
 * One volume of a cluster: level and state, each member with its state, device and rebuild progress, and
 * the operator's fail/replace form. Both actions ask for confirmation first; a refusal (ours or the
 * server's) is shown beside the field it names.
 */
import { useState } from 'preact/hooks';
import { VolumeReplaceSchema, type VolumeView } from '../../wire/index.js';
import { ApiError, volumeAction } from '../api.js';
import { formatRate } from '../format.js';
import type { Confirmation } from './ConfirmDialog.js';

/** Props of {@link VolumePanel}. */
export interface VolumePanelProps {
  cluster: string;
  volume: VolumeView;
  confirm: (c: Confirmation) => void;
  /** The volume as stored after an action. */
  changed: (volume: VolumeView) => void;
}

type Errors = Partial<Record<'member' | 'with' | 'form', string>>;

/** Text of a rebuilding member's progress. */
function rebuildText(rebuild: VolumeView['members'][number]['rebuild']): string {
  if (rebuild === null) return '';
  const done = rebuild.percent === null ? 'rebuilding' : `${rebuild.percent}%`;
  return rebuild.rate === null || rebuild.etaSeconds === null ? `${done}, no estimate` : `${done} at ${formatRate(rebuild.rate)}, ETA ${rebuild.etaSeconds} s`;
}

/** A volume and its member actions. */
export function VolumePanel({ cluster, volume, confirm, changed }: VolumePanelProps) {
  const [member, setMember] = useState('0');
  const [replacement, setReplacement] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  const run = async (body: { member: number } | { member: number; with: string }): Promise<void> => {
    setBusy(true);
    try {
      changed(await volumeAction(cluster, volume.name, body));
      setErrors({});
    } catch (err) {
      const field = err instanceof ApiError ? err.field : null;
      const key = field === 'member' || field === 'with' ? field : 'form';
      setErrors({ [key]: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };

  const fail = (): void => {
    const index = Number(member);
    confirm({
      title: `Fail member ${index} of ${volume.name}?`,
      detail: `Member ${index} (${volume.members[index]?.device ?? volume.members[index]?.uri ?? '?'}) stops being used; the ${volume.level} volume runs degraded until the member is replaced and rebuilt.`,
      confirmLabel: 'Fail member',
      run: () => void run({ member: index }),
    });
  };

  const replace = (): void => {
    const parsed = VolumeReplaceSchema.safeParse({ member: Number(member), with: replacement });
    if (!parsed.success) {
      setErrors({ with: parsed.error.issues[0]?.message ?? 'invalid' });
      return;
    }
    confirm({
      title: `Replace member ${parsed.data.member} of ${volume.name}?`,
      detail: `${parsed.data.with} takes the slot of member ${parsed.data.member} and is rebuilt: whatever it holds is overwritten.`,
      confirmLabel: 'Replace member',
      run: () => void run(parsed.data),
    });
  };

  const err = (key: keyof Errors) =>
    errors[key] === undefined ? null : (
      <span class="field-error" role="alert" data-field={key}>
        {errors[key]}
      </span>
    );
  const tone = volume.state === 'clean' ? 'ok' : volume.state === 'failed' ? 'bad' : 'warn';

  return (
    <div class="volume" data-volume={volume.name} data-state={volume.state}>
      <h3>
        Volume {volume.name} <span class="muted">{volume.level}</span>{' '}
        <span class={`pill ${tone}`} data-role="volume-state">
          {volume.state}
        </span>
        {volume.rebuildPaused ? <span class="muted"> · rebuilds paused</span> : null}
      </h3>
      <table>
        <thead>
          <tr>
            <th>#</th>
            <th>Device</th>
            <th>URI</th>
            <th>State</th>
            <th>Rebuild</th>
            <th>Errors (r/w)</th>
            <th>Reason</th>
          </tr>
        </thead>
        <tbody>
          {volume.members.map((m) => (
            <tr key={m.index} data-member={m.index} data-state={m.state} class={m.state === 'failed' ? 'row-bad' : ''}>
              <td>{m.index}</td>
              <td>{m.device ?? '-'}</td>
              <td class="mono">{m.uri}</td>
              <td>{m.state}</td>
              <td>{rebuildText(m.rebuild)}</td>
              <td>
                {m.readErrors}/{m.writeErrors}
              </td>
              <td>{m.reason ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">Spares: {volume.spares.map((s) => s.device ?? s.uri).join(', ') || 'none'}</p>
      <form class="row" aria-label={`member actions of ${volume.name}`} onSubmit={(e) => e.preventDefault()}>
        <label>
          Member
          <select name="member" value={member} onChange={(e) => setMember(e.currentTarget.value)}>
            {volume.members.map((m) => (
              <option key={m.index} value={String(m.index)}>
                {m.index} ({m.device ?? m.uri})
              </option>
            ))}
          </select>
          {err('member')}
        </label>
        <button type="button" class="danger" disabled={busy} onClick={fail}>
          Fail member
        </button>
        <label class="grow">
          Replace with (device name or URI)
          <input name="with" placeholder="d5" value={replacement} onInput={(e) => setReplacement(e.currentTarget.value)} />
          {err('with')}
        </label>
        <button type="button" disabled={busy} onClick={replace}>
          Replace member
        </button>
      </form>
      {err('form')}
    </div>
  );
}
