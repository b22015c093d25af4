// Which saved card a payment charges. The backend says which cards can be charged now (saved for the
// clinic's active gateway and not expired: document 003, "Gateway Compatibility") and which one to pick
// first; the window only offers them.
import { useState } from "react";
import type { CardView_Serialize } from "../bindings";

/** The chargeable cards, and the chosen one (the backend's preselected card at first). */
export function useCardChoice(cards: CardView_Serialize[]) {
  const compatible = cards.filter((c) => c.chargeable);
  const [cardId, setCardId] = useState<number | null>(cards.find((c) => c.preselected)?.id ?? null);
  return { compatible, cardId, setCardId, card: compatible.find((c) => c.id === cardId) };
}
