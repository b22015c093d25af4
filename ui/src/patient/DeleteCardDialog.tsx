import { useCallback } from "react";
import { commands, type CardView_Serialize } from "../bindings";
import { call } from "../api";
import { useLoad } from "../hooks/useLoad";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

/** Document 000's delete confirmation, with the warning when it is the patient's only card, and (document
 * 003) the subscriptions and unpaid invoices the card pays, named before anyone confirms. */
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
  const fetchDependents = useCallback(() => call(commands.cardDependents(card.id)), [card.id]);
  const { data: dependents, error: dependentsError } = useLoad(fetchDependents, () => {});
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
        {dependentsError ? (
          <p className="warning" role="alert" data-testid="dependents-error">
            What this card pays could not be checked ({dependentsError}). Look at the patient&apos;s subscriptions
            and unpaid invoices before deleting it.
          </p>
        ) : !dependents ? (
          <p className="muted small" aria-busy="true">
            Checking what this card pays…
          </p>
        ) : dependents.dependents.length === 0 ? (
          <p className="muted small" data-testid="no-dependents">
            No subscription or unpaid invoice is charged to this card.
          </p>
        ) : (
          <div className="warning" role="alert" data-testid="card-dependents">
            <p>This card pays:</p>
            <ul>
              {dependents.dependents.map((d) => (
                <li key={`${d.kind}-${d.id}`} data-testid="card-dependent">
                  {d.what}:{" "}
                  {d.then_paid_by ? `charged to ${d.then_paid_by} after this` : "no other card would pay it"}
                </li>
              ))}
            </ul>
          </div>
        )}
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
          <button
            type="button"
            className="danger"
            onClick={confirm}
            disabled={busy || (!dependents && !dependentsError)}
            data-testid="confirm-delete"
          >
            {busy ? "Deleting…" : "Delete Payment Method"}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
