import { useEffect, useRef, useState, type FormEvent } from "react";
import { commands, type CardView_Serialize, type Gateway, type PatientId } from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { focusOnMount } from "../shared/focus";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";
import { useCardChoice } from "../hooks/useCardChoice";
import { CardDetailsFields, useCardDetails } from "./CardDetailsFields";
import { CardSelect } from "./CardSelect";

/** A fresh name for one checkout attempt (getRandomValues works outside secure contexts too). */
function newAttemptKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "desk-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** How often the dialog asks again while the first attempt's outcome is being checked. */
const CHECK_EVERY_MS = 5_000;

/** Checkout: one payment now (document 003, "Checkout") with a saved card for the active gateway, or a new
 * card typed in the gateway's card window and kept for later only when staff tick "Save for later". The
 * dialog names its attempt once: pressed again, or checking after an unknown outcome, it can never make a
 * second invoice or a second charge. */
export function CheckoutDialog({
  patientId,
  patientName,
  cards,
  activeGateway,
  onClose,
  onDone,
}: {
  patientId: PatientId;
  patientName: string;
  cards: CardView_Serialize[];
  activeGateway: Gateway;
  onClose: () => void;
  onDone: () => void;
}) {
  const toast = useToast();
  const { compatible, cardId, setCardId } = useCardChoice(cards);
  // Document 003: checkout can use "a new tokenized card" or "a saved payment method".
  const [source, setSource] = useState<"saved" | "new">(compatible.length > 0 ? "saved" : "new");
  const fields = useCardDetails();
  const [save, setSave] = useState(false);
  const [cardWindowOpen, setCardWindowOpen] = useState(false);
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

  /** A new card: its number goes into the card window; the backend charges the token it hands over. */
  async function sendNew() {
    setCardWindowOpen(true);
    try {
      const paid = await call(
        commands.checkoutWithNewCard(patientId, amount, fields.details, save, attempt.current),
      );
      // None: the card window was closed without a card; nothing was charged.
      if (paid) {
        toast.ok(paid.message);
        setChecking(null);
        onDone();
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === "outcome_unknown") {
        setChecking(e.message);
        return;
      }
      setChecking(null);
      throw e;
    } finally {
      setCardWindowOpen(false);
    }
  }

  function charge(e: FormEvent) {
    e.preventDefault();
    if (source === "new") {
      void submit(sendNew);
      return;
    }
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
        <label>
          Amount
          <input
            name="checkout-amount"
            inputMode="decimal"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            required
            ref={focusOnMount}
            disabled={checking !== null || cardWindowOpen}
          />
        </label>
        <fieldset className="choice" aria-label="Pay with" disabled={checking !== null || cardWindowOpen}>
          <label className="inline-label">
            <input
              type="radio"
              name="checkout-source"
              value="saved"
              checked={source === "saved"}
              disabled={compatible.length === 0}
              onChange={() => setSource("saved")}
              data-testid="checkout-saved-card"
            />
            A saved card
          </label>
          <label className="inline-label">
            <input
              type="radio"
              name="checkout-source"
              value="new"
              checked={source === "new"}
              onChange={() => setSource("new")}
              data-testid="checkout-new-card"
            />
            A new card
          </label>
        </fieldset>
        {source === "saved" ? (
          compatible.length === 0 ? (
            <p className="warning" role="alert">
              No saved card can be charged through {gatewayName(activeGateway)}, the clinic&apos;s active gateway. Use a
              new card, or add the patient&apos;s card first.
            </p>
          ) : (
            <CardSelect name="checkout-card" compatible={compatible} cardId={cardId} onChange={setCardId} />
          )
        ) : (
          <>
            <CardDetailsFields
              patientName={patientName}
              fields={fields}
              withNickname={save}
              disabled={checking !== null || cardWindowOpen}
            />
            <label className="inline-label">
              <input
                type="checkbox"
                checked={save}
                onChange={(e) => setSave(e.target.checked)}
                disabled={checking !== null || cardWindowOpen}
                data-testid="checkout-save-card"
              />
              Save for later (the patient agrees to keep this card on file)
            </label>
            {cardWindowOpen && (
              <p className="muted" role="status" data-testid="card-window-open">
                Type the card in the card window, or on {gatewayName(activeGateway)}'s page if it opened instead, and
                confirm it there. Closing that window stops the payment.
              </p>
            )}
          </>
        )}
        <p className="muted small">Charged now through {gatewayName(activeGateway)}.</p>
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
            disabled={busy || (source === "saved" && cardId === null) || checking !== null}
            data-testid="confirm-checkout"
          >
            {cardWindowOpen
              ? "Waiting for the card…"
              : busy
                ? "Charging…"
                : checking !== null
                  ? "Checking…"
                  : source === "new"
                    ? "Enter card and charge…"
                    : "Charge"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
