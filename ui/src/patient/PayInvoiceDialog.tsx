// Pay an open invoice with a saved card the active gateway can charge.
import { useState } from "react";
import { commands, type CardView_Serialize, type Gateway, type Invoice_Serialize } from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { formatMoney, gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";
import { useCardChoice } from "../hooks/useCardChoice";
import { CardSelect } from "./CardSelect";

/** Click-to-result times of Pay, kept for the end-to-end tests' figures (never sent anywhere). */
function recordPayTiming(ms: number) {
  const w = window as unknown as { __clinicpayPayTimings?: number[] };
  (w.__clinicpayPayTimings ??= []).push(ms);
}

export function PayInvoiceDialog({
  invoice,
  cards,
  activeGateway,
  onClose,
  onPaid,
  onFailed,
  onEscalate,
}: {
  invoice: Invoice_Serialize;
  cards: CardView_Serialize[];
  activeGateway: Gateway;
  onClose: () => void;
  onPaid: () => void;
  onFailed: () => void;
  /** Escalate, with the exact message the dialog shows (document 003 asks for it). */
  onEscalate: (shownMessage: string) => void;
}) {
  const toast = useToast();
  const { compatible, cardId, setCardId, card } = useCardChoice(cards);
  const { busy, submit } = useSubmit();
  const [failure, setFailure] = useState<{ message: string; code: string } | null>(null);

  function pay() {
    if (busy || cardId === null) return;
    setFailure(null);
    const started = performance.now();
    void submit(
      async () => {
        const result = await call(commands.payInvoice(invoice.id, cardId));
        recordPayTiming(performance.now() - started);
        toast.ok(result.message);
        onPaid();
      },
      (e) => {
        recordPayTiming(performance.now() - started);
        setFailure({ message: messageOf(e), code: e instanceof ApiError ? e.code : "internal" });
        onFailed();
      },
    );
  }

  return (
    <Dialog title={`Pay invoice #${invoice.id}`} onClose={onClose} busy={busy} testId="pay-dialog">
      <div className="stack">
        <p className="pay-summary">
          <span className="big-money" data-testid="pay-amount">
            {formatMoney(invoice.amount)}
          </span>{" "}
          for {invoice.description}
        </p>
        {compatible.length === 0 ? (
          <p className="warning" role="alert" data-testid="no-compatible-card">
            No saved card can be charged through {gatewayName(activeGateway)}, the clinic&apos;s active gateway. Ask the
            patient to re-save the card for {gatewayName(activeGateway)}.
          </p>
        ) : (
          <CardSelect
            name="card"
            compatible={compatible}
            cardId={cardId}
            onChange={setCardId}
            disabled={busy}
            testId="pay-card"
          />
        )}
        {card && (
          <p className="muted small">
            Charged now through {gatewayName(activeGateway)} to {card.description}.
          </p>
        )}
        {failure && (
          <div className="form-error" role="alert" data-testid="pay-error" data-code={failure.code}>
            <p>{failure.message}</p>
            {failure.code !== "declined" && failure.code !== "no_compatible_card" && (
              <button type="button" onClick={() => onEscalate(failure.message)} data-testid="escalate-from-pay">
                Escalate
              </button>
            )}
          </div>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            {failure ? "Close" : "Cancel"}
          </button>
          <button
            type="button"
            className="primary"
            disabled={busy || !card}
            onClick={pay}
            data-testid="confirm-pay"
          >
            {busy ? "Charging…" : `Charge ${formatMoney(invoice.amount)}`}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
