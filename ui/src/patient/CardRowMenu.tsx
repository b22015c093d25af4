import { useEffect, useRef, useState } from "react";
import type { CardView_Serialize } from "../bindings";

/** What a card row's menu can start. */
export type CardAction = "delete" | "default" | "verify";

/** A card row's ⋮ menu: Set as Default, Verify and Delete, as document 000 allows them. */
export function CardRowMenu({
  card,
  others,
  onPick,
}: {
  card: CardView_Serialize;
  others: number;
  onPick: (kind: CardAction) => void;
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
            disabled={card.expired}
            title={card.expired ? "An expired card cannot be verified: ask for the new card" : undefined}
            onClick={() => {
              setOpen(false);
              onPick("verify");
            }}
            data-testid="menu-verify"
          >
            Verify
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
