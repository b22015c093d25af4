// Document 003's Manual Retry: on the active gateway or the one staff choose, then the configured
// fallback when the patient has no card on the first — as `clinicpay orders retry ORDER [--gateway G]`.
import { useState } from "react";
import { commands, type ClinicInfo, type Gateway, type NextCharge, type Order_Serialize } from "../bindings";
import { call } from "../api";
import { formatMoney, gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

const GATEWAYS: Gateway[] = ["stripe", "nmi"];

export function RetryDialog({
  order,
  next,
  clinic,
  onClose,
  onDone,
}: {
  order: Order_Serialize;
  next: NextCharge | null;
  clinic: ClinicInfo;
  onClose: () => void;
  onDone: () => void;
}) {
  const toast = useToast();
  // Where the next charge would go (the subscription's gateway while it has a card there), else the clinic's.
  const [gateway, setGateway] = useState<Gateway>(next?.gateway ?? clinic.active_gateway);
  const { busy, error, submit } = useSubmit();
  const fallback = clinic.fallback_gateway && clinic.fallback_gateway !== gateway ? clinic.fallback_gateway : null;
  function retry() {
    void submit(async () => {
      toast.ok((await call(commands.retryOrder(order.id, gateway))).message);
      onDone();
    });
  }
  return (
    <Dialog title={`Retry order #${order.id}`} onClose={onClose} busy={busy} testId="retry-dialog">
      <div className="stack">
        <p className="pay-summary">
          <span className="big-money">{formatMoney(order.amount)}</span> for {order.description}
        </p>
        {next && (next.gateway === null || next.gateway === gateway) && (
          <p className="muted small" data-testid="retry-next-charge">
            {next.explanation}
          </p>
        )}
        <fieldset className="choice">
          <legend>Charge through</legend>
          {GATEWAYS.map((g) => (
            <label key={g} className="inline-label">
              <input
                type="radio"
                name="retry-gateway"
                value={g}
                checked={gateway === g}
                disabled={busy}
                onChange={() => setGateway(g)}
                data-testid={`retry-gateway-${g}`}
              />
              {gatewayName(g)}
              {g === clinic.active_gateway ? " (the clinic's gateway)" : ""}
            </label>
          ))}
        </fieldset>
        <p className="muted small" data-testid="retry-fallback">
          {fallback
            ? `If the patient has no card saved for ${gatewayName(gateway)}, ClinicPay tries the fallback gateway, ${gatewayName(fallback)}.`
            : `Only a card saved for ${gatewayName(gateway)} is charged.`}
        </p>
        {error && (
          <p className="form-error" role="alert" data-testid="retry-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            {error ? "Close" : "Cancel"}
          </button>
          <button type="button" className="primary" onClick={retry} disabled={busy} data-testid="confirm-retry">
            {busy ? "Retrying…" : "Retry now"}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
