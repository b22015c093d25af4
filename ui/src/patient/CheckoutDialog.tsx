import { useState, type FormEvent } from "react";
import { commands, type CardView_Serialize, type Gateway, type PatientId } from "../bindings";
import { call } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";
import { useCardChoice } from "../hooks/useCardChoice";
import { CardSelect } from "./CardSelect";

/** Checkout: one payment now with a saved card for the active gateway (document 003, "Checkout"). */
export function CheckoutDialog({
  patientId,
  cards,
  activeGateway,
  onClose,
  onDone,
}: {
  patientId: PatientId;
  cards: CardView_Serialize[];
  activeGateway: Gateway;
  onClose: () => void;
  onDone: () => void;
}) {
  const toast = useToast();
  const { compatible, cardId, setCardId } = useCardChoice(cards);
  const [amount, setAmount] = useState("");
  const { busy, error, submit } = useSubmit();
  function charge(e: FormEvent) {
    e.preventDefault();
    if (cardId === null) return;
    void submit(async () => {
      toast.ok((await call(commands.checkout(patientId, amount, cardId))).message);
      onDone();
    });
  }
  return (
    <Dialog title="Take a payment" onClose={onClose} busy={busy} testId="checkout-dialog">
      <form className="stack" onSubmit={charge}>
        {compatible.length === 0 ? (
          <p className="warning" role="alert">
            No saved card can be charged through {gatewayName(activeGateway)}, the clinic&apos;s active gateway. Add the
            patient&apos;s card first.
          </p>
        ) : (
          <>
            <label>
              Amount
              <input name="checkout-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} required autoFocus />
            </label>
            <CardSelect name="checkout-card" compatible={compatible} cardId={cardId} onChange={setCardId} />
            <p className="muted small">Charged now through {gatewayName(activeGateway)}.</p>
          </>
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="checkout-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || cardId === null} data-testid="confirm-checkout">
            {busy ? "Charging…" : "Charge"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
