// A patient's invoices (with Pay), orders and recovery (with Retry where document 003 allows it), and
// payments (with Refund on the gateway that took them).
import { useState, type FormEvent } from "react";
import {
  commands,
  type CardView_Serialize,
  type Gateway,
  type Invoice_Serialize,
  type Order_Serialize,
  type PatientAccount_Serialize,
  type PatientId,
  type Payment_Serialize,
  type Session,
} from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { formatDate, formatDateTime, gatewayName } from "../format";
import { Dialog, MoneyCell, StatusChip, formatMoney, may, statusWords, useToast } from "../ui";

// ------------------------------------------------------------------ invoices

export function InvoicesTab({
  patientId,
  account,
  cards,
  activeGateway,
  session,
  onChanged,
  onEscalate,
}: {
  patientId: PatientId;
  account: PatientAccount_Serialize;
  cards: CardView_Serialize[];
  activeGateway: Gateway;
  session: Session;
  onChanged: () => void;
  onEscalate: () => void;
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
        <PayDialog
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

function NewInvoiceDialog({
  patientId,
  onClose,
  onCreated,
}: {
  patientId: PatientId;
  onClose: () => void;
  onCreated: () => void;
}) {
  const toast = useToast();
  const [amount, setAmount] = useState("");
  const [description, setDescription] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const inv = await call(commands.createInvoice(patientId, amount, description));
      toast.ok(`Invoice #${inv.id} for ${formatMoney(inv.amount)} was created.`);
      onCreated();
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }
  return (
    <Dialog title="New invoice" onClose={onClose} busy={busy} testId="new-invoice-dialog">
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <label>
          Amount
          <input name="amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} required autoFocus />
        </label>
        <label>
          For
          <input
            name="description"
            value={description}
            placeholder="e.g. Physiotherapy session"
            onChange={(e) => setDescription(e.target.value)}
          />
        </label>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="create-invoice">
            {busy ? "Creating…" : "Create invoice"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Only a card saved for the active gateway can be charged (document 003, "Gateway Compatibility"); the
 * default first when it is one of them. */
function useCompatibleCard(cards: CardView_Serialize[], activeGateway: Gateway) {
  const compatible = cards.filter((c) => c.gateway === activeGateway && !c.expired);
  const preferred = compatible.find((c) => c.is_default) ?? compatible[0];
  const [cardId, setCardId] = useState<number | null>(preferred?.id ?? null);
  return { compatible, cardId, setCardId, card: compatible.find((c) => c.id === cardId) };
}

function CardSelect({
  name,
  compatible,
  cardId,
  onChange,
  disabled = false,
  testId,
}: {
  name: string;
  compatible: CardView_Serialize[];
  cardId: number | null;
  onChange: (id: number) => void;
  disabled?: boolean;
  testId?: string;
}) {
  return (
    <label>
      Card
      <select name={name} value={cardId ?? ""} onChange={(e) => onChange(Number(e.target.value))} disabled={disabled} data-testid={testId}>
        {compatible.map((c) => (
          <option key={c.id} value={c.id}>
            {c.description} · expires {c.expiry}
            {c.is_default ? " · default" : ""}
          </option>
        ))}
      </select>
    </label>
  );
}

function PayDialog({
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
  onEscalate: () => void;
}) {
  const toast = useToast();
  const { compatible, cardId, setCardId, card } = useCompatibleCard(cards, activeGateway);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<{ message: string; code: string } | null>(null);

  async function pay() {
    if (busy || cardId === null) return;
    setBusy(true);
    setFailure(null);
    const started = performance.now();
    try {
      const result = await call(commands.payInvoice(invoice.id, cardId));
      recordPayTiming(performance.now() - started);
      toast.ok(result.message);
      onPaid();
    } catch (e) {
      recordPayTiming(performance.now() - started);
      setFailure({ message: messageOf(e), code: e instanceof ApiError ? e.code : "internal" });
      setBusy(false);
      onFailed();
    }
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
              <button type="button" onClick={onEscalate} data-testid="escalate-from-pay">
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
            onClick={() => void pay()}
            data-testid="confirm-pay"
          >
            {busy ? "Charging…" : `Charge ${formatMoney(invoice.amount)}`}
          </button>
        </div>
      </div>
    </Dialog>
  );
}

/** Checkout: one payment now with a saved card for the active gateway (document 003, "Checkout"). */
function CheckoutDialog({
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
  const { compatible, cardId, setCardId } = useCompatibleCard(cards, activeGateway);
  const [amount, setAmount] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy || cardId === null) return;
    setBusy(true);
    setError(null);
    try {
      toast.ok((await call(commands.checkout(patientId, amount, cardId))).message);
      onDone();
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }
  return (
    <Dialog title="Take a payment" onClose={onClose} busy={busy} testId="checkout-dialog">
      <form className="stack" onSubmit={(e) => void submit(e)}>
        {compatible.length === 0 ? (
          <p className="warning" role="alert">
            No saved card can be charged through {gatewayName(activeGateway)}, the clinic&apos;s active gateway. Add the
            patient&apos;s card first.
          </p>
        ) : (
          <>
            <label>
              Amount
              <input name="checkout-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} required autoFocus />
            </label>
            <CardSelect name="checkout-card" compatible={compatible} cardId={cardId} onChange={setCardId} />
            <p className="muted small">Charged now through {gatewayName(activeGateway)}.</p>
          </>
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="checkout-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || cardId === null} data-testid="confirm-checkout">
            {busy ? "Charging…" : "Charge"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Click-to-result times of Pay, kept for the end-to-end tests' figures (never sent anywhere). */
function recordPayTiming(ms: number) {
  const w = window as unknown as { __clinicpayPayTimings?: number[] };
  (w.__clinicpayPayTimings ??= []).push(ms);
}

// ------------------------------------------------------------------ orders & recovery

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

// ------------------------------------------------------------------ payments

export function PaymentsTab({
  payments,
  session,
  onChanged,
}: {
  payments: Payment_Serialize[];
  session: Session;
  onChanged: () => void;
}) {
  const [refunding, setRefunding] = useState<Payment_Serialize | null>(null);
  const canRefund = may(session, "refund_within_limit");
  if (payments.length === 0) {
    return (
      <div className="empty-state small" data-testid="no-payments">
        <p>No payments yet.</p>
      </div>
    );
  }
  return (
    <>
      <PaymentsTable
        payments={payments}
        action={(p) =>
          canRefund && p.status === "SUCCEEDED" ? (
            <button type="button" onClick={() => setRefunding(p)} data-testid="refund-payment">
              Refund
            </button>
          ) : null
        }
      />
      {refunding && (
        <RefundDialog
          payment={refunding}
          onClose={() => setRefunding(null)}
          onDone={() => {
            setRefunding(null);
            onChanged();
          }}
        />
      )}
    </>
  );
}

export function PaymentsTable({
  payments,
  action,
  onOpenPatient,
}: {
  payments: Payment_Serialize[];
  action?: (p: Payment_Serialize) => React.ReactNode;
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
              {p.decline_message ? (
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

function RefundDialog({
  payment,
  onClose,
  onDone,
}: {
  payment: Payment_Serialize;
  onClose: () => void;
  onDone: () => void;
}) {
  const toast = useToast();
  const [amount, setAmount] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      toast.ok((await call(commands.refundPayment(payment.id, amount.trim() || null))).message);
      onDone();
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }
  return (
    <Dialog title={`Refund payment #${payment.id}`} onClose={onClose} busy={busy} testId="refund-dialog">
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <p>
          {formatMoney(payment.amount)} was taken through <strong>{gatewayName(payment.gateway)}</strong>. Refunds
          always go back through the gateway that took the payment.
        </p>
        <label>
          <span>
            Amount to refund <span className="muted">(leave empty for all that is left)</span>
          </span>
          <input name="refund-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />
        </label>
        {error && (
          <p className="form-error" role="alert" data-testid="refund-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy} data-testid="confirm-refund">
            {busy ? "Refunding…" : `Refund through ${gatewayName(payment.gateway)}`}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
