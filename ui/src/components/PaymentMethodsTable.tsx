import { useEffect, useRef, useState } from "react";
import { commands, type CardView_Serialize, type Session } from "../bindings";
import { call, messageOf } from "../api";
import { expiryState, formatDate, gatewayName } from "../format";
import { Dialog, may, useToast } from "../ui";

type Pending = { kind: "delete" | "default"; card: CardView_Serialize };

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
                  </td>
                  {canManage && (
                    <td className="row-actions">
                      <RowMenu
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
        <DeleteDialog
          card={pending.card}
          last={cards.length === 1}
          onClose={() => setPending(null)}
          onDone={() => {
            setPending(null);
            onChanged();
          }}
        />
      )}
      {pending?.kind === "default" && (
        <SetDefault
          card={pending.card}
          onDone={() => {
            setPending(null);
            onChanged();
          }}
        />
      )}
    </div>
  );
}

function RowMenu({
  card,
  others,
  onPick,
}: {
  card: CardView_Serialize;
  others: number;
  onPick: (kind: Pending["kind"]) => void;
}) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    box.current?.querySelector<HTMLButtonElement>("[role=menuitem]:not([disabled])")?.focus();
    function away(e: MouseEvent) {
      if (!box.current?.contains(e.target as Node)) setOpen(false);
    }
    function esc(e: KeyboardEvent) {
      if (e.key === "Escape") setOpen(false);
    }
    document.addEventListener("mousedown", away);
    document.addEventListener("keydown", esc);
    return () => {
      document.removeEventListener("mousedown", away);
      document.removeEventListener("keydown", esc);
    };
  }, [open]);
  // Document 000: the default cannot be deleted while other cards exist.
  const deleteBlocked = card.is_default && others > 0;
  return (
    <div className="menu-anchor" ref={box}>
      <button
        type="button"
        className="icon-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`Actions for ${card.description}`}
        onClick={() => setOpen((o) => !o)}
        data-testid="card-menu"
      >
        ⋮
      </button>
      {open && (
        <div className="menu" role="menu">
          <button
            type="button"
            role="menuitem"
            disabled={card.is_default || card.expired}
            onClick={() => {
              setOpen(false);
              onPick("default");
            }}
            data-testid="menu-set-default"
          >
            Set as Default
          </button>
          <button
            type="button"
            role="menuitem"
            disabled={deleteBlocked}
            title={deleteBlocked ? "Set a different card as default first" : undefined}
            onClick={() => {
              setOpen(false);
              onPick("delete");
            }}
            data-testid="menu-delete"
          >
            Delete
          </button>
          {deleteBlocked && (
            <p className="menu-note" data-testid="delete-blocked-note">
              The default card cannot be deleted while other cards exist: set a different card as default first.
            </p>
          )}
        </div>
      )}
    </div>
  );
}

function SetDefault({ card, onDone }: { card: CardView_Serialize; onDone: () => void }) {
  const toast = useToast();
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void (async () => {
      try {
        // Document 000: "Visa ending in 5678 is now your default payment method."
        toast.ok((await call(commands.setDefaultCard(card.id))).message);
      } catch (e) {
        toast.error(messageOf(e));
      }
      onDone();
    })();
  }, [card, onDone, toast]);
  return null;
}

function DeleteDialog({
  card,
  last,
  onClose,
  onDone,
}: {
  card: CardView_Serialize;
  last: boolean;
  onClose: () => void;
  onDone: () => void;
}) {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function confirm() {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      toast.ok((await call(commands.deleteCard(card.id, last))).message);
      onDone();
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  }
  return (
    <Dialog title="Delete payment method" onClose={onClose} busy={busy} testId="delete-dialog">
      <div className="stack">
        <p>Are you sure you want to delete this payment method?</p>
        <p>
          <strong>
            {card.description}
          </strong>{" "}
          · expires {card.expiry} · {gatewayName(card.gateway)}
        </p>
        {last && (
          <p className="warning" role="alert" data-testid="last-card-warning">
            This is the patient&apos;s only payment method: services that require automatic billing may be suspended
            until they add another.
          </p>
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="delete-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="button" className="danger" onClick={() => void confirm()} disabled={busy} data-testid="confirm-delete">
            {busy ? "Deleting…" : "Delete Payment Method"}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
