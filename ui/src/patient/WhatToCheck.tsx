// Document 003's "What CS Should Check Before Advising a Patient", computed by the services: each check
// green, amber or red with one line of why and one action.
import type { CheckAction, Check_Serialize, OrderId } from "../bindings";

const LEVEL_LABEL = { ok: "OK", attention: "Check", action_needed: "Action needed" } as const;

const ACTION_LABEL: Record<CheckAction, string> = {
  add_card: "Add payment method",
  choose_default: "Choose the default card",
  open_invoices: "Open invoices",
  open_orders: "Open orders",
  open_payments: "Open payments",
  escalate: "Escalate",
};

export function WhatToCheck({
  checks,
  orderId,
  onAction,
  onEscalate,
  onClearOrder,
  busy,
}: {
  checks: Check_Serialize[] | null;
  orderId: OrderId | null;
  onAction: (a: CheckAction) => void;
  onEscalate: () => void;
  onClearOrder: () => void;
  busy: boolean;
}) {
  return (
    <aside className="check-panel" aria-labelledby="checks-title" data-testid="what-to-check">
      <header className="check-header">
        <h2 id="checks-title">What to check</h2>
        {orderId !== null && (
          <p className="muted small">
            For order #{orderId} ·{" "}
            <button type="button" className="link" onClick={onClearOrder}>
              the whole patient
            </button>
          </p>
        )}
      </header>
      {checks === null ? (
        <div className="skeleton" aria-busy="true" aria-label="Loading the checks">
          <div className="skeleton-line wide" />
          <div className="skeleton-line" />
          <div className="skeleton-line wide" />
        </div>
      ) : (
        <ul className="checks">
          {checks.map((c) => (
            <li key={c.name} className={`check ${c.level}`} data-testid="check" data-level={c.level} data-name={c.name}>
              <span className={`dot ${c.level}`} aria-label={LEVEL_LABEL[c.level]} role="img" />
              <div>
                <p className="check-name">{c.name}</p>
                <p className="check-finding" data-testid="check-finding">
                  {c.finding}
                </p>
                {c.next_step && <p className="check-next">{c.next_step}</p>}
                {c.action && c.level !== "ok" && (
                  <button
                    type="button"
                    className="link"
                    onClick={() => onAction(c.action as CheckAction)}
                    data-testid={`check-action-${c.action}`}
                  >
                    {ACTION_LABEL[c.action as CheckAction]}
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      <button type="button" onClick={onEscalate} disabled={busy} className="escalate" data-testid="escalate">
        {busy ? "Preparing the report…" : "Escalate: copy report and save PDF"}
      </button>
    </aside>
  );
}
