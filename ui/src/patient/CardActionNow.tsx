import { useEffect, useRef } from "react";
import { commands, type CardView_Serialize } from "../bindings";
import { call, messageOf } from "../api";
import { useToast } from "../shared/Toasts";

/** A ⋮ action with nothing to confirm, started as soon as it is chosen: Set as Default (document 000:
 * "Visa ending in 5678 is now your default payment method.") or Verify (a zero-amount check at the card's
 * gateway). Its answer, or the refusal, comes back in a toast. */
export function CardActionNow({
  card,
  action,
  onDone,
}: {
  card: CardView_Serialize;
  action: "default" | "verify";
  onDone: () => void;
}) {
  const toast = useToast();
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void (async () => {
      try {
        const answer =
          action === "default"
            ? await call(commands.setDefaultCard(card.id))
            : await call(commands.verifyCard(card.id));
        toast.ok(answer.message);
      } catch (e) {
        toast.error(messageOf(e));
      }
      onDone();
    })();
  }, [card, action, onDone, toast]);
  return null;
}
