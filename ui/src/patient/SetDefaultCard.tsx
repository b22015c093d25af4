import { useEffect, useRef } from "react";
import { commands, type CardView_Serialize } from "../bindings";
import { call, messageOf } from "../api";
import { useToast } from "../shared/Toasts";

/** Makes the card the default as soon as it is shown (nothing to confirm), then reports in a toast. */
export function SetDefaultCard({ card, onDone }: { card: CardView_Serialize; onDone: () => void }) {
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
