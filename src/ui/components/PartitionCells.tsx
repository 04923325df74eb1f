/** A task's partitions as cells: READY, IN PROGRESS, COMPLETE (or FAILED), the owner on hover. */
import type { PartitionCell } from '../../wire/index.js';

/** Props of {@link PartitionCells}. */
export interface PartitionCellsProps {
  cells: PartitionCell[];
}

const CLASS: Record<PartitionCell['state'], string> = { READY: 'ready', 'IN PROGRESS': 'in-progress', COMPLETE: 'complete', FAILED: 'failed' };

/** One small square per partition. */
export function PartitionCells({ cells }: PartitionCellsProps) {
  if (cells.length === 0) return <span class="muted">no partition states reported yet</span>;
  return (
    <span class="cells" role="img" aria-label={`${cells.filter((c) => c.state === 'COMPLETE').length} of ${cells.length} partitions complete`}>
      {cells.map((c) => (
        <span
          key={c.index}
          class={`cell ${CLASS[c.state]}`}
          data-state={c.state}
          title={`partition ${c.index}: ${c.state}${c.owner === null ? '' : ` — owner ${c.owner}`}`}
        />
      ))}
    </span>
  );
}
