import { useState } from "react";
import type { CardView_Serialize, Session } from "../bindings";
import { expiryState, formatDate, gatewayName } from "../format";
import { may } from "../shared/permissions";
import { CardRowMenu, type CardAction } from "./CardRowMenu";
import { DeleteCardDialog } from "./DeleteCardDialog";
import { CardActionNow } from "./CardActionNow";

type Pending = { kind: CardAction; card: CardView_Serialize };

/** Document 000's Payment Methods table, plus the gateway each card belongs to. Default first; each
 * row's ⋮ menu holds Set as Default and Delete, offered as the document's rules allow. */
export function PaymentMethodsTable({
  cards,
  session,
  onChanged,
  onAdd,
}: {
  cards: CardView_Serialize[];
  session: Session;
  onChanged: () => void;
  onAdd: () => void;
}) {
  const [pending, setPending] = useState<Pending | null>(null);
  const canManage = may(session, "manage_cards");

  return (
    <div className="stack">
      <div className="toolbar">
        <h2 className="section-title">Payment methods</h2>
        {canManage && (
          <button type="button" className="primary" onClick={onAdd} data-testid="add-card">
            Add payment method
          </button>
        )}
      </div>
      {cards.length === 0 ? (
        <div className="empty-state small" data-testid="no-cards">
          <p>
            <strong>No saved cards.</strong> A card kept on file pays invoices and subscriptions automatically; ask the
            patient for one when they next pay.
          </p>
        </div>
      ) : (
        <table className="data-table" data-testid="cards-table">
          <thead>
            <tr>
              <th scope="col">Nickname</th>
              <th scope="col">Issuer</th>
              <th scope="col">Expiry</th>
              <th scope="col">Added</th>
              <th scope="col">Default</th>
              <th scope="col">Gateway</th>
              {canManage && (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {cards.map((c) => {
              const exp = expiryState(c);
              return (
                <tr key={c.id} data-testid="card-row" data-default={c.is_default ? "yes" : "no"} data-last4={c.last4}>
                  <td>{c.nickname ?? <span className="muted">—</span>}</td>
                  <td data-testid="card-issuer" className="nowrap">
                    {c.brand} ••{c.last4}
                  </td>
                  <td data-testid="card-expiry">
                    {c.expiry}
                    {exp.label && <span className={`chip ${exp.tone}`}>{exp.label}</span>}
                    {c.renewed_by_network_at && (
                      <span
                        className="chip"
                        data-testid="renewed-by-network"
                        title={`The card network renewed this card; ClinicPay took its new details from ${gatewayName(c.gateway)} on ${formatDate(c.renewed_by_network_at)}.`}
                      >
                        renewed by the network
                      </span>
                    )}
                  </td>
                  <td className="nowrap">{formatDate(c.added_at)}</td>
                  <td>
                    {c.is_default && (
                      <span className="default-check" data-testid="default-check" aria-label="Default payment method">
                        ✓
                      </span>
                    )}
                  </td>
                  <td>
                    <span className="chip">{gatewayName(c.gateway)}</span>
                    {c.last_verification && (
                      <p
                        className={`muted small ${c.last_verification.outcome === "refused" ? "error-text" : ""}`}
                        data-testid="card-verification"
                        data-outcome={c.last_verification.outcome}
                      >
                        {c.last_verification.summary}
                      </p>
                    )}
                  </td>
                  {canManage && (
                    <td className="row-actions">
                      <CardRowMenu
                        card={c}
                        others={cards.length - 1}
                        onPick={(kind) => setPending({ kind, card: c })}
                      />
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {pending?.kind === "delete" && (
        <DeleteCardDialog
          card={pending.card}
          last={cards.length === 1}
          onClose={() => setPending(null)}
          onDone={() => {
            setPending(null);
            onChanged();
          }}
        />
      )}
      {(pending?.kind === "verify" || pending?.kind === "default") && (
        <CardActionNow
          key={`${pending.kind}-${pending.card.id}`}
          card={pending.card}
          action={pending.kind}
          onDone={() => {
            setPending(null);
            onChanged();
          }}
        />
      )}
    </div>
  );
}
