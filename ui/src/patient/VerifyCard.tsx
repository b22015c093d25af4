import { useEffect, useRef } from "react";
import { commands, type CardView_Serialize } from "../bindings";
import { call, messageOf } from "../api";
import { useToast } from "../shared/Toasts";

/** ⋮ Verify: a zero-amount check of the card at its gateway (document 000's "test payment after
 * updating"), started as soon as it is chosen; the bank's answer comes back in a toast and on the row. */
export function VerifyCard({ card, onDone }: { card: CardView_Serialize; onDone: () => void }) {
  const toast = useToast();
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void (async () => {
      try {
        toast.ok((await call(commands.verifyCard(card.id))).message);
      } catch (e) {
        toast.error(messageOf(e));
      }
      onDone();
    })();
  }, [card, onDone, toast]);
  return null;
}
