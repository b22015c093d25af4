// The patient's orders and their recovery, with Retry where document 003 allows it.
import { useState } from "react";
import { commands, type Order_Serialize, type PatientAccount_Serialize, type Session } from "../bindings";
import { call, messageOf } from "../api";
import { gatewayName } from "../format";
import { MoneyCell } from "../shared/MoneyCell";
import { StatusChip, statusWords } from "../shared/StatusChip";
import { may } from "../shared/permissions";
import { useToast } from "../shared/Toasts";

export function OrdersTab({
  account,
  session,
  onChanged,
  onCheck,
}: {
  account: PatientAccount_Serialize;
  session: Session;
  onChanged: () => void;
  onCheck: (order: Order_Serialize) => void;
}) {
  const toast = useToast();
  const [busy, setBusy] = useState<number | null>(null);
  const canRetry = may(session, "retry_recovery");
  async function retry(o: Order_Serialize) {
    if (busy !== null) return;
    setBusy(o.id);
    try {
      toast.ok((await call(commands.retryOrder(o.id))).message);
    } catch (e) {
      toast.error(messageOf(e));
    }
    setBusy(null);
    onChanged();
  }
  if (account.orders.length === 0) {
    return (
      <div className="empty-state small" data-testid="no-orders">
        <p>No orders yet. Checkouts, invoices and subscription cycles each make one.</p>
      </div>
    );
  }
  return (
    <table className="data-table" data-testid="orders-table">
      <thead>
        <tr>
          <th scope="col">Order</th>
          <th scope="col">Kind</th>
          <th scope="col" className="money">
            Amount
          </th>
          <th scope="col">Status</th>
          <th scope="col">Recovery</th>
          <th scope="col">Gateway</th>
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {account.orders.map((o) => {
          // Document 003, "Manual Retry": subscription cycles and switch payoffs that are not paid.
          const retryable =
            canRetry && (o.kind === "SUBSCRIPTION_CYCLE" || o.kind === "SWITCH_PAYOFF") && o.status !== "PAID";
          return (
            <tr key={o.id} data-testid="order-row" data-order={o.id}>
              <td>#{o.id}</td>
              <td>{statusWords(o.kind)}</td>
              <MoneyCell money={o.amount} />
              <td>
                <StatusChip status={o.status} />
              </td>
              <td>
                {o.recovery_status ? (
                  <StatusChip status={o.recovery_status} testId="order-recovery" />
                ) : (
                  <span className="muted">—</span>
                )}
                {o.last_message && <p className="muted small">{o.last_message}</p>}
              </td>
              <td>{o.locked_gateway ? gatewayName(o.locked_gateway) : <span className="muted">—</span>}</td>
              <td className="row-actions">
                <button type="button" className="link" onClick={() => onCheck(o)} data-testid="check-order">
                  What to check
                </button>
                {retryable && (
                  <button
                    type="button"
                    onClick={() => void retry(o)}
                    disabled={busy !== null}
                    data-testid="retry-order"
                  >
                    {busy === o.id ? "Retrying…" : "Retry"}
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
