/**
 * The issue-a-task form's rules, apart from its rendering: which fields each kind shows, how the field
 * values become a task issue (checked with the shared wire schema), where each problem is shown (the
 * field it names: `args.repair` beside the scrub's mode), and what to ask before a kind that writes data.
 * Pure functions, unit-tested without a DOM.
 */
import { TaskIssueSchema, writesData, type TaskIssue, type TaskKind } from '../wire/index.js';

/** The form's fields. */
export type TaskField = 'cluster' | 'kind' | 'volume' | 'mode' | 'member' | 'to' | 'partitions' | 'seed' | 'target' | 'args';

/** Where a message is shown: a field, or the form as a whole. */
export type ErrorSlot = TaskField | 'form';

/** The raw text of every field (inputs and selects give strings). */
export type TaskFieldValues = Record<TaskField, string>;

/** Problems by where they are shown. */
export type TaskFormErrors = Partial<Record<ErrorSlot, string>>;

/** Kinds in the order the form offers them, with a label saying what each does. */
export const KIND_CHOICES: readonly { kind: TaskKind; label: string }[] = [
  { kind: 'volume-scrub', label: 'scrub a volume (check or repair)' },
  { kind: 'volume-rebuild', label: 'rebuild a volume member' },
  { kind: 'volume-initialize', label: 'initialize a volume (parity)' },
  { kind: 'volume-copy', label: 'copy a volume member to a new device' },
  { kind: 'verify', label: 'verify a pattern' },
  { kind: 'fill', label: 'fill with a pattern' },
  { kind: 'checksum', label: 'checksum a data set' },
];

/** The fields each kind shows, besides cluster and kind. */
export const FIELDS_OF_KIND: Readonly<Record<TaskKind, readonly TaskField[]>> = {
  'volume-scrub': ['volume', 'mode', 'partitions'],
  'volume-rebuild': ['volume', 'member', 'partitions'],
  'volume-initialize': ['volume', 'partitions'],
  'volume-copy': ['volume', 'member', 'to', 'partitions'],
  verify: ['target', 'seed', 'partitions', 'args'],
  fill: ['target', 'seed', 'partitions', 'args'],
  checksum: ['target', 'partitions', 'args'],
};

/** The values a fresh form starts with. */
export function initialValues(cluster: string, volume: string): TaskFieldValues {
  return { cluster, kind: 'volume-scrub', volume, mode: 'check', member: '', to: '', partitions: '8', seed: '', target: '', args: '' };
}

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

/** The slot a problem at `path` (of the issue) is shown in, for a form showing `kind`'s fields. */
export function slotOf(path: readonly PropertyKey[] | string, kind: string): ErrorSlot {
  const parts = typeof path === 'string' ? path.split('.') : path.map(String);
  const [head, name] = parts;
  if (head === 'cluster' || head === 'kind') return head;
  if (head !== 'args') return 'form';
  const shown = FIELDS_OF_KIND[kind as TaskKind] ?? [];
  const field: TaskField | undefined = name === 'repair' ? 'mode' : (shown.find((f) => f === name) ?? undefined);
  if (field !== undefined && shown.includes(field)) return field;
  return shown.includes('args') ? 'args' : 'form';
}

const wholeNumber = (text: string): number | string => (/^\d+$/.test(text.trim()) ? Number(text.trim()) : text);

/** Builds the issue from the field values: the issue, or the problems by slot. */
export function buildIssue(values: TaskFieldValues): { issue: TaskIssue; errors: null } | { issue: null; errors: TaskFormErrors } {
  const errors: TaskFormErrors = {};
  const kind = values.kind as TaskKind;
  const shown = FIELDS_OF_KIND[kind] ?? [];
  let args: Record<string, string | number | boolean> = {};
  if (shown.includes('args')) {
    try {
      args = parseExtraArgs(values.args);
    } catch (err) {
      errors.args = (err as Error).message;
    }
  }
  if (shown.includes('volume') && values.volume !== '') args.volume = values.volume;
  if (shown.includes('mode') && values.mode === 'repair') args.repair = true;
  if (shown.includes('member') && values.member !== '') args.member = wholeNumber(values.member);
  if (shown.includes('to') && values.to !== '') args.to = values.to;
  if (shown.includes('partitions') && values.partitions.trim() !== '') args.partitions = wholeNumber(values.partitions);
  if (shown.includes('seed') && values.seed.trim() !== '') args.seed = values.seed.trim();
  if (shown.includes('target') && values.target !== '') args.target = values.target;
  if (kind === 'verify' && args.seed === undefined) errors.seed = 'give the seed the fill used (its task result shows it)';
  const parsed = TaskIssueSchema.safeParse({ cluster: values.cluster, kind: values.kind, args });
  if (!parsed.success) for (const problem of parsed.error.issues) errors[slotOf(problem.path, values.kind)] ??= problem.message;
  if (Object.keys(errors).length > 0 || !parsed.success) return { issue: null, errors };
  return { issue: parsed.data, errors: null };
}

/** What to ask before issuing `issue`, or null when it does not write over data. */
export function confirmationFor(issue: TaskIssue): { title: string; detail: string; confirmLabel: string } | null {
  if (!writesData(issue.kind, issue.args)) return null;
  const volume = String(issue.args.volume ?? '');
  switch (issue.kind) {
    case 'volume-initialize':
      return {
        title: `Initialize volume ${volume} on cluster ${issue.cluster}?`,
        detail: `Every row of ${volume} gets its parity recomputed from the data (raid5/raid6) or its mirrors copied from the first member (raid1). Meant for a new volume: on a volume whose redundancy is what is right, a check scrub is the safe choice.`,
        confirmLabel: 'Initialize',
      };
    case 'volume-copy':
      return {
        title: `Copy member ${String(issue.args.member)} of ${volume} to ${String(issue.args.to)}?`,
        detail: `Everything on ${String(issue.args.to)} is overwritten with the member's data; when the copy is done it takes the member's slot and the old device leaves the volume.`,
        confirmLabel: 'Copy',
      };
    case 'volume-scrub':
      return {
        title: `Repair volume ${volume} on cluster ${issue.cluster}?`,
        detail: `The scrub rewrites every parity or mirror block of ${volume} that does not match its data. Run a check scrub first to see how much differs.`,
        confirmLabel: 'Scrub and repair',
      };
    default:
      return {
        title: `Overwrite data on cluster ${issue.cluster}?`,
        detail: `A ${issue.kind} task writes a pattern over its whole data set${issue.args.target === undefined ? ` (the metadata device of cluster ${issue.cluster}, after the region)` : ` (${String(issue.args.target)})`}. Data there is lost.`,
        confirmLabel: `Run ${issue.kind}`,
      };
  }
}
