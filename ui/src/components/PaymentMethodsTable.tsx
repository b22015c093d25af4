import type { CardView } from "../bindings";
import { expiryState, formatDate, gatewayName } from "../format";

/** Document 000's Payment Methods table, plus the gateway each card belongs to. Default first. */
export function PaymentMethodsTable({ cards }: { cards: CardView[] }) {
  if (cards.length === 0) {
    return (
      <div className="empty-state small" data-testid="no-cards">
        <p>
          <strong>No saved cards.</strong> A card kept on file pays invoices and subscriptions automatically; ask the
          patient for one when they next pay.
        </p>
      </div>
    );
  }
  return (
    <table className="data-table" data-testid="cards-table">
      <thead>
        <tr>
          <th scope="col">Nickname</th>
          <th scope="col">Issuer</th>
          <th scope="col">Expiry</th>
          <th scope="col">Added</th>
          <th scope="col">Default</th>
          <th scope="col">Gateway</th>
        </tr>
      </thead>
      <tbody>
        {cards.map((c) => {
          const exp = expiryState(c);
          return (
            <tr key={c.id} data-testid="card-row" data-default={c.is_default ? "yes" : "no"}>
              <td>{c.nickname ?? <span className="muted">—</span>}</td>
              <td data-testid="card-issuer">
                {c.brand} ••{c.last4}
              </td>
              <td data-testid="card-expiry">
                {c.expiry}
                {exp.label && <span className={`chip ${exp.tone}`}>{exp.label}</span>}
              </td>
              <td>{formatDate(c.added_at)}</td>
              <td>
                {c.is_default && (
                  <span className="default-check" data-testid="default-check" aria-label="Default payment method">
                    ✓
                  </span>
                )}
              </td>
              <td>
                <span className="chip">{gatewayName(c.gateway)}</span>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
