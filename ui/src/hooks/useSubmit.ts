// One action started from a form or a button (save, charge, refund, export…): busy while it runs, and
// the sentence of what went wrong.
import { useState } from "react";
import { messageOf } from "../api";

/** `submit(action)` runs the action unless one is already under way; `busy` meanwhile. A failure's
 * sentence goes to `error`, or the failure to `onFailure` when given (a toast, a failure with its code). */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(action: () => Promise<void>, onFailure?: (e: unknown) => void): Promise<void> {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      if (onFailure) onFailure(e);
      else setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, submit };
}
