// The payments table of the patient's Payments tab and of the clinic-wide Payments and Failed payments
// screens: the gateway's own words for a decline, an optional action per row, optionally the patient.
import type { ReactNode } from "react";
import type { Payment_Serialize } from "../bindings";
import { formatDateTime, gatewayName } from "../format";
import { MoneyCell } from "./MoneyCell";
import { StatusChip } from "./StatusChip";

export function PaymentsTable({
  payments,
  action,
  onOpenPatient,
}: {
  payments: Payment_Serialize[];
  action?: (p: Payment_Serialize) => ReactNode;
  onOpenPatient?: (p: Payment_Serialize) => void;
}) {
  return (
    <table className="data-table" data-testid="payments-table">
      <thead>
        <tr>
          <th scope="col">Payment</th>
          <th scope="col">When</th>
          {onOpenPatient && <th scope="col">Patient</th>}
          <th scope="col" className="money">
            Amount
          </th>
          <th scope="col">Status</th>
          <th scope="col">Gateway</th>
          <th scope="col">Gateway&apos;s message</th>
          {action && (
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          )}
        </tr>
      </thead>
      <tbody>
        {payments.map((p) => (
          <tr key={p.id} data-testid="payment-row" data-payment={p.id} data-gateway={p.gateway}>
            <td>#{p.id}</td>
            <td>{formatDateTime(p.created_at)}</td>
            {onOpenPatient && (
              <td>
                <button type="button" className="link" onClick={() => onOpenPatient(p)}>
                  Patient #{p.patient_id}
                </button>
              </td>
            )}
            <MoneyCell money={p.amount} />
            <td>
              <StatusChip status={p.status} testId="payment-status" />
            </td>
            <td>{gatewayName(p.gateway)}</td>
            <td data-testid="payment-message">
              {p.duplicate_of !== null ? (
                <span className="error-text" data-testid="duplicate-of">
                  Charged twice: invoice #{p.invoice_id ?? "?"} was already paid by payment #{p.duplicate_of}.
                </span>
              ) : p.decline_message ? (
                <>
                  {p.decline_message}
                  {p.decline_code && <span className="muted"> ({p.decline_code})</span>}
                </>
              ) : (
                <span className="muted">—</span>
              )}
            </td>
            {action && <td className="row-actions">{action(p)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
