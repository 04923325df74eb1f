/** Asks before a destructive action: says what will happen and needs an explicit click. */

/** A pending confirmation. */
export interface Confirmation {
  title: string;
  detail: string;
  confirmLabel: string;
  run: () => void;
}

/** Props of {@link ConfirmDialog}. */
export interface ConfirmDialogProps {
  confirmation: Confirmation | null;
  onClose: () => void;
}

/** A modal confirmation; renders nothing when there is nothing to confirm. */
export function ConfirmDialog({ confirmation, onClose }: ConfirmDialogProps) {
  if (confirmation === null) return null;
  return (
    <div class="modal-backdrop">
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
        <h3 id="confirm-title">{confirmation.title}</h3>
        <p>{confirmation.detail}</p>
        <div class="actions">
          <button type="button" onClick={onClose}>
            Keep it
          </button>
          <button
            type="button"
            class="danger"
            onClick={() => {
              onClose();
              confirmation.run();
            }}
          >
            {confirmation.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}
