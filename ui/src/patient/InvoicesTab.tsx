// The patient's invoices, with Pay on an open one, New invoice and Take a payment.
import { useState } from "react";
import type {
  CardView_Serialize,
  Gateway,
  Invoice_Serialize,
  PatientAccount_Serialize,
  PatientId,
  Session,
} from "../bindings";
import { formatDate } from "../format";
import { MoneyCell } from "../shared/MoneyCell";
import { StatusChip } from "../shared/StatusChip";
import { may } from "../shared/permissions";
import { CheckoutDialog } from "./CheckoutDialog";
import { NewInvoiceDialog } from "./NewInvoiceDialog";
import { PayInvoiceDialog } from "./PayInvoiceDialog";

export function InvoicesTab({
  patientId,
  patientName,
  account,
  cards,
  activeGateway,
  session,
  onChanged,
  onEscalate,
}: {
  patientId: PatientId;
  patientName: string;
  account: PatientAccount_Serialize;
  cards: CardView_Serialize[];
  activeGateway: Gateway;
  session: Session;
  onChanged: () => void;
  onEscalate: (shownMessage: string) => void;
}) {
  const [paying, setPaying] = useState<Invoice_Serialize | null>(null);
  const [creating, setCreating] = useState(false);
  const [taking, setTaking] = useState(false);
  const canPay = may(session, "take_payments");
  return (
    <div className="stack">
      <div className="toolbar">
        <h2 className="section-title">Invoices</h2>
        {canPay && (
          <span className="row-actions">
            <button type="button" onClick={() => setCreating(true)} data-testid="new-invoice">
              New invoice
            </button>
            <button type="button" className="primary" onClick={() => setTaking(true)} data-testid="take-payment">
              Take a payment
            </button>
          </span>
        )}
      </div>
      {account.invoices.length === 0 ? (
        <div className="empty-state small" data-testid="no-invoices">
          <p>No invoices yet. An invoice is made for each visit, service or subscription cycle.</p>
        </div>
      ) : (
        <table className="data-table" data-testid="invoices-table">
          <thead>
            <tr>
              <th scope="col">Invoice</th>
              <th scope="col">For</th>
              <th scope="col">Date</th>
              <th scope="col" className="money">
                Amount
              </th>
              <th scope="col">Status</th>
              {canPay && (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {account.invoices.map((i) => (
              <tr key={i.id} data-testid="invoice-row" data-invoice={i.id}>
                <td>#{i.id}</td>
                <td>{i.description}</td>
                <td>{formatDate(i.created_at)}</td>
                <MoneyCell money={i.amount} />
                <td>
                  <StatusChip status={i.status} testId="invoice-status" />
                </td>
                {canPay && (
                  <td className="row-actions">
                    {i.status === "OPEN" && (
                      <button type="button" className="primary" onClick={() => setPaying(i)} data-testid="pay-invoice">
                        Pay
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {paying && (
        <PayInvoiceDialog
          invoice={paying}
          cards={cards}
          activeGateway={activeGateway}
          onClose={() => setPaying(null)}
          onPaid={() => {
            setPaying(null);
            onChanged();
          }}
          onFailed={onChanged}
          onEscalate={onEscalate}
        />
      )}
      {taking && (
        <CheckoutDialog
          patientId={patientId}
          patientName={patientName}
          cards={cards}
          activeGateway={activeGateway}
          onClose={() => setTaking(false)}
          onDone={() => {
            setTaking(false);
            onChanged();
          }}
        />
      )}
      {creating && (
        <NewInvoiceDialog
          patientId={patientId}
          onClose={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            onChanged();
          }}
        />
      )}
    </div>
  );
}
