// Add payment method: name, country and nickname here; the card itself in the card window, where the
// active gateway's hosted fields run (Stripe Elements or NMI Collect.js, or the built-in simulator's
// stand-ins in training mode). The gateways' scripts never run in this window, and the card number and
// its token never reach this page: the backend takes the token from the card window and saves the card.
import { useEffect, useState, type FormEvent } from "react";
import { commands, type CardChange_Serialize, type DeskCardForm, type PatientId } from "../bindings";
import { call, messageOf } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useSubmit } from "../hooks/useSubmit";
import { CardDetailsFields, useCardDetails } from "./CardDetailsFields";

export function AddCardDialog({
  patientId,
  patientName,
  onClose,
  onSaved,
}: {
  patientId: PatientId;
  patientName: string;
  onClose: () => void;
  onSaved: (c: CardChange_Serialize) => void;
}) {
  const [form, setForm] = useState<DeskCardForm | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  // Name and country are required and typed by staff: nothing is filled in for them (the patient's name
  // may not be the name on the card, and a guessed country is a wrong billing address).
  const fields = useCardDetails();
  const { busy, error, submit } = useSubmit();
  const [waiting, setWaiting] = useState(false);

  // Which gateway (for the words and the country field); the fields themselves open in the card window.
  useEffect(() => {
    let cancelled = false;
    call(commands.cardForm()).then(
      (f) => !cancelled && setForm(f),
      (e) => !cancelled && setLoadError(messageOf(e)),
    );
    return () => {
      cancelled = true;
      // Closing this dialog closes the card window with it.
      void commands.cancelCardEntry();
    };
  }, []);

  function save(e: FormEvent) {
    e.preventDefault();
    if (!form) return;
    setWaiting(true);
    void submit(async () => {
      try {
        const saved = await call(
          commands.addCardThroughForm(patientId, fields.details),
        );
        // None: the card window was closed without a card; the dialog stays for another try.
        if (saved) onSaved(saved);
      } finally {
        setWaiting(false);
      }
    });
  }

  return (
    <Dialog title="Add payment method" onClose={onClose} testId="add-card-dialog">
      {loadError ? (
        <p className="form-error" role="alert" data-testid="card-form-error">
          {loadError}
        </p>
      ) : (
        <form className="stack" onSubmit={save}>
          <p className="muted small" data-testid="card-entry-way">
            {!form
              ? "Loading the card form…"
              : form.way === "gateway_page"
                ? `The card is saved with ${gatewayName(form.gateway)}, the clinic's active gateway. ${gatewayName(form.gateway)}'s own secure page opens in a new window, where the card is typed; ClinicPay keeps only the brand, last four and expiry.`
                : `The card is saved with ${gatewayName(form.gateway)}, the clinic's active gateway. Its number is typed in ${gatewayName(form.gateway)}'s own card window and goes straight to ${gatewayName(form.gateway)}; ClinicPay keeps only the brand, last four and expiry.`}
          </p>
          <CardDetailsFields patientName={patientName} fields={fields} />
          {waiting && (
            <p className="muted" role="status" data-testid="card-window-open">
              {form?.way === "gateway_page"
                ? `Type the card on ${gatewayName(form.gateway)}'s page in the new window and choose Save card there. Close that window to stop.`
                : "Type the card in the Card details window, then choose Use this card."}
            </p>
          )}
          {error && (
            <p className="form-error" role="alert" data-testid="add-card-error">
              {error}
            </p>
          )}
          <div className="actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={!form || busy} data-testid="save-card">
              {busy ? "Waiting for the card…" : form?.way === "gateway_page" ? `Open ${gatewayName(form.gateway)}'s page…` : "Enter card…"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
