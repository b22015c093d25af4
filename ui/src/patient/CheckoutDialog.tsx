import { useEffect, useRef, useState, type FormEvent } from "react";
import { commands, type CardView_Serialize, type Gateway, type PatientId } from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";
import { useCardChoice } from "../hooks/useCardChoice";
import { CardSelect } from "./CardSelect";

/** A fresh name for one checkout attempt (getRandomValues works outside secure contexts too). */
function newAttemptKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "desk-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** How often the dialog asks again while the first attempt's outcome is being checked. */
const CHECK_EVERY_MS = 5_000;

/** Checkout: one payment now with a saved card for the active gateway (document 003, "Checkout"). The
 * dialog names its attempt once: pressed again, or checking after an unknown outcome, it can never make a
 * second invoice or a second charge. */
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
  const { busy, error, setError, submit } = useSubmit();
  const attempt = useRef(newAttemptKey());
  const [checking, setChecking] = useState<string | null>(null);

  async function send(card: number) {
    try {
      toast.ok((await call(commands.checkout(patientId, amount, card, attempt.current))).message);
      setChecking(null);
      onDone();
    } catch (e) {
      if (e instanceof ApiError && e.code === "outcome_unknown") {
        setChecking(e.message);
        return;
      }
      setChecking(null);
      throw e;
    }
  }

  function charge(e: FormEvent) {
    e.preventDefault();
    if (cardId === null) return;
    void submit(() => send(cardId));
  }

  // While the first attempt's outcome is unknown, ask where it stands (never a charge) until the
  // gateway answers: paid closes the dialog, "did not go through" lets staff press Charge again.
  const waiting = checking !== null;
  useEffect(() => {
    if (!waiting) return;
    const timer = window.setInterval(() => {
      call(commands.checkoutStatus(attempt.current))
        .then((status) => {
          if (status.state === "paid") {
            window.clearInterval(timer);
            setChecking(null);
            toast.ok(status.message);
            onDone();
          } else if (status.state === "not_through") {
            window.clearInterval(timer);
            setChecking(null);
            setError(status.message);
          } else {
            setChecking(status.message);
          }
        })
        .catch((e: unknown) => setError(messageOf(e)));
    }, CHECK_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [waiting, toast, onDone, setError]);

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
              <input
                name="checkout-amount"
                inputMode="decimal"
                value={amount}
                onChange={(e) => setAmount(e.target.value)}
                required
                autoFocus
                disabled={checking !== null}
              />
            </label>
            <CardSelect name="checkout-card" compatible={compatible} cardId={cardId} onChange={setCardId} />
            <p className="muted small">Charged now through {gatewayName(activeGateway)}.</p>
          </>
        )}
        {checking !== null && (
          <p className="warning" role="status" data-testid="checkout-checking">
            The first attempt may have gone through: checking with {gatewayName(activeGateway)}… Do not take the payment
            another way. <span className="muted">{checking}</span>
          </p>
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="checkout-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            {checking !== null ? "Close (ClinicPay keeps checking)" : "Cancel"}
          </button>
          <button
            type="submit"
            className="primary"
            disabled={busy || cardId === null || checking !== null}
            data-testid="confirm-checkout"
          >
            {busy ? "Charging…" : checking !== null ? "Checking…" : "Charge"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
