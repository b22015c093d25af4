import { useState, type FormEvent } from "react";
import { commands, type PatientId } from "../bindings";
import { call } from "../api";
import { formatMoney } from "../format";
import { Dialog } from "../shared/Dialog";
import { focusOnMount } from "../shared/focus";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

export function NewInvoiceDialog({
  patientId,
  onClose,
  onCreated,
}: {
  patientId: PatientId;
  onClose: () => void;
  onCreated: () => void;
}) {
  const toast = useToast();
  const [amount, setAmount] = useState("");
  const [description, setDescription] = useState("");
  const { busy, error, submit } = useSubmit();
  function create(e: FormEvent) {
    e.preventDefault();
    void submit(async () => {
      const inv = await call(commands.createInvoice(patientId, amount, description));
      toast.ok(`Invoice #${inv.id} for ${formatMoney(inv.amount)} was created.`);
      onCreated();
    });
  }
  return (
    <Dialog title="New invoice" onClose={onClose} busy={busy} testId="new-invoice-dialog">
      <form className="stack" onSubmit={create}>
        <label>
          Amount
          <input name="amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} required ref={focusOnMount} />
        </label>
        <label>
          For
          <input
            name="description"
            value={description}
            placeholder="e.g. Physiotherapy session"
            onChange={(e) => setDescription(e.target.value)}
          />
        </label>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="create-invoice">
            {busy ? "Creating…" : "Create invoice"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
