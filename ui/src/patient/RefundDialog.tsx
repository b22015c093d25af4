import { useState, type FormEvent } from "react";
import { commands, type Payment_Serialize } from "../bindings";
import { call } from "../api";
import { formatMoney, gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

/** A refund, always back through the gateway that took the payment. */
export function RefundDialog({
  payment,
  onClose,
  onDone,
}: {
  payment: Payment_Serialize;
  onClose: () => void;
  onDone: () => void;
}) {
  const toast = useToast();
  const [amount, setAmount] = useState("");
  const { busy, error, submit } = useSubmit();
  function refund(e: FormEvent) {
    e.preventDefault();
    void submit(async () => {
      toast.ok((await call(commands.refundPayment(payment.id, amount.trim() || null))).message);
      onDone();
    });
  }
  return (
    <Dialog title={`Refund payment #${payment.id}`} onClose={onClose} busy={busy} testId="refund-dialog">
      <form className="stack" onSubmit={refund}>
        <p>
          {formatMoney(payment.amount)} was taken through <strong>{gatewayName(payment.gateway)}</strong>. Refunds
          always go back through the gateway that took the payment.
        </p>
        <label>
          <span>
            Amount to refund <span className="muted">(leave empty for all that is left)</span>
          </span>
          <input name="refund-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />
        </label>
        {error && (
          <p className="form-error" role="alert" data-testid="refund-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="confirm-refund">
            {busy ? "Refunding…" : `Refund through ${gatewayName(payment.gateway)}`}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
