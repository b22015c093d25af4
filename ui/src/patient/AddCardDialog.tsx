// Add payment method: name, country and nickname here; the card itself in the card window, where the
// active gateway's hosted fields run (Stripe Elements or NMI Collect.js, or the built-in simulator's
// stand-ins in training mode). The gateways' scripts never run in this window, and the card number and
// its token never reach this page: the backend takes the token from the card window and saves the card.
import { useEffect, useState, type FormEvent } from "react";
import { commands, type CardChange_Serialize, type CardForm, type PatientId } from "../bindings";
import { call, messageOf } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useSubmit } from "../hooks/useSubmit";

const COUNTRIES: [string, string][] = [
  ["US", "United States"],
  ["CA", "Canada"],
  ["GB", "United Kingdom"],
  ["AU", "Australia"],
  ["NZ", "New Zealand"],
  ["IE", "Ireland"],
  ["MX", "Mexico"],
];

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
  const [form, setForm] = useState<CardForm | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  // Both required and typed by staff: nothing is filled in for them (the patient's name may not be the
  // name on the card, and a guessed country is a wrong billing address).
  const [name, setName] = useState("");
  const [country, setCountry] = useState("");
  const [nickname, setNickname] = useState("");
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
          commands.addCardThroughForm(patientId, {
            cardholder_name: name.trim() || null,
            country: country || null,
            nickname: nickname.trim() || null,
          }),
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
          <p className="muted small">
            {form
              ? `The card is saved with ${gatewayName(form.gateway)}, the clinic's active gateway. Its number is typed in ${gatewayName(form.gateway)}'s own card window and goes straight to ${gatewayName(form.gateway)}; ClinicPay keeps only the brand, last four and expiry.`
              : "Loading the card form…"}
          </p>
          <label>
            Cardholder name
            <input
              name="cardholder"
              value={name}
              required
              maxLength={100}
              placeholder={`As on the card, e.g. ${patientName}`}
              onChange={(e) => setName(e.target.value)}
              autoComplete="cc-name"
              data-testid="cardholder-name"
            />
          </label>
          <label>
            Billing country
            <select
              name="country"
              value={country}
              required
              onChange={(e) => setCountry(e.target.value)}
              data-testid="card-country"
            >
              <option value="" disabled>
                Choose…
              </option>
              {COUNTRIES.map(([code, label]) => (
                <option key={code} value={code}>
                  {label}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span>
              Nickname <span className="muted">(optional)</span>
            </span>
            <input
              name="nickname"
              value={nickname}
              maxLength={40}
              placeholder="e.g. Work card"
              onChange={(e) => setNickname(e.target.value)}
            />
          </label>
          {waiting && (
            <p className="muted" role="status" data-testid="card-window-open">
              Type the card in the Card details window, then choose Use this card.
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
              {busy ? "Waiting for the card…" : "Enter card…"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
