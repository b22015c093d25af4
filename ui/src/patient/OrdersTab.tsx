// The patient's orders and their recovery, with Retry where document 003 allows it.
import { useState } from "react";
import {
  type ClinicInfo,
  type NextCharge,
  type Order_Serialize,
  type PatientAccount_Serialize,
  type PatientId,
  type Session,
} from "../bindings";
import { gatewayName } from "../format";
import { MoneyCell } from "../shared/MoneyCell";
import { StatusChip, statusWords } from "../shared/StatusChip";
import { may } from "../shared/permissions";
import { RetryDialog } from "./RetryDialog";
import { SendCardLinkDialog } from "./CardLinks";

/** The next charge in a few words (the whole sentence is its tooltip and in What to check). */
function nextChargeWords(n: NextCharge | null): string {
  if (!n) return "";
  if (n.gateway) return `Next charge: ${gatewayName(n.gateway)}${n.card ? `, ${n.card}` : ""}`;
  if (n.needs_card_for) return `Next charge: needs a card saved for ${gatewayName(n.needs_card_for)}`;
  return "Next charge: waiting for this computer's gateway key";
}

export function OrdersTab({
  patientId,
  email,
  account,
  clinic,
  session,
  onChanged,
  onCheck,
}: {
  patientId: PatientId;
  email: string;
  account: PatientAccount_Serialize;
  clinic: ClinicInfo;
  session: Session;
  onChanged: () => void;
  onCheck: (order: Order_Serialize) => void;
}) {
  const [retrying, setRetrying] = useState<Order_Serialize | null>(null);
  const [linking, setLinking] = useState<Order_Serialize | null>(null);
  const canRetry = may(session, "retry_recovery");
  // A recovery order waiting for a card: the patient can save one themselves (Stripe only).
  const canLink = may(session, "manage_cards") && clinic.active_gateway === "stripe";
  const nextOf = (o: Order_Serialize) => account.next_charges.find((n) => n.order_id === o.id) ?? null;
  if (account.orders.length === 0) {
    return (
      <div className="empty-state small" data-testid="no-orders">
        <p>No orders yet. Checkouts, invoices and subscription cycles each make one.</p>
      </div>
    );
  }
  return (
    <>
      {/* Long recovery messages must not push Retry under the What to check panel: the table scrolls. */}
      <div className="table-scroll">
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
              canRetry &&
              (o.kind === "SUBSCRIPTION_CYCLE" || o.kind === "SWITCH_PAYOFF") &&
              o.status !== "PAID" &&
              o.status !== "CANCELLED";
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
                  {o.last_message && <p className="muted small cell-note">{o.last_message}</p>}
                </td>
                <td>
                  {o.locked_gateway ? gatewayName(o.locked_gateway) : <span className="muted">—</span>}
                  {nextOf(o) && (
                    <p className="muted small cell-note" data-testid="order-next-charge" title={nextOf(o)?.explanation}>
                      {nextChargeWords(nextOf(o))}
                    </p>
                  )}
                </td>
                <td className="row-actions">
                  <div className="stacked-actions">
                    <button type="button" className="link" onClick={() => onCheck(o)} data-testid="check-order">
                      What to check
                    </button>
                    {retryable && (
                      <button type="button" onClick={() => setRetrying(o)} data-testid="retry-order">
                        Retry…
                      </button>
                    )}
                    {canLink &&
                      (o.recovery_status === "NEEDS_PAYMENT_METHOD" || o.recovery_status === "RETRY_SCHEDULED") && (
                        <button
                          type="button"
                          className="link"
                          onClick={() => setLinking(o)}
                          title="Send the patient a secure card link for this order"
                          data-testid="order-card-link"
                        >
                          Card link…
                        </button>
                      )}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      </div>
      {linking && (
        <SendCardLinkDialog
          patientId={patientId}
          email={email}
          orderId={linking.id}
          onClose={() => setLinking(null)}
          onSent={() => {
            setLinking(null);
            onChanged();
          }}
        />
      )}
      {retrying && (
        <RetryDialog
          order={retrying}
          next={nextOf(retrying)}
          clinic={clinic}
          onClose={() => {
            setRetrying(null);
            onChanged();
          }}
          onDone={() => {
            setRetrying(null);
            onChanged();
          }}
        />
      )}
    </>
  );
}
