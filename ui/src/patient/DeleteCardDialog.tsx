import { commands, type CardView_Serialize } from "../bindings";
import { call } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

/** Document 000's delete confirmation, with the warning when it is the patient's only card. */
export function DeleteCardDialog({
  card,
  last,
  onClose,
  onDone,
}: {
  card: CardView_Serialize;
  last: boolean;
  onClose: () => void;
  onDone: () => void;
}) {
  const toast = useToast();
  const { busy, error, submit } = useSubmit();
  function confirm() {
    void submit(async () => {
      toast.ok((await call(commands.deleteCard(card.id, last))).message);
      onDone();
    });
  }
  return (
    <Dialog title="Delete payment method" onClose={onClose} busy={busy} testId="delete-dialog">
      <div className="stack">
        <p>Are you sure you want to delete this payment method?</p>
        <p>
          <strong>
            {card.description}
          </strong>{" "}
          · expires {card.expiry} · {gatewayName(card.gateway)}
        </p>
        {last && (
          <p className="warning" role="alert" data-testid="last-card-warning">
            This is the patient&apos;s only payment method: services that require automatic billing may be suspended
            until they add another.
          </p>
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="delete-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="button" className="danger" onClick={confirm} disabled={busy} data-testid="confirm-delete">
            {busy ? "Deleting…" : "Delete Payment Method"}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
