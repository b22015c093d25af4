// The billing engine's status (Settings → Billing engine and the top bar's warning), read again every
// `everyMs`: the engine works in the background and writes no activity entry for a pass that changed
// nothing, so there is no change event to wait for.
import { useEffect, useState } from "react";
import { commands, type EngineStatus, type Session } from "../bindings";
import { call, messageOf } from "../api";
import { may } from "../shared/permissions";

export function useBillingEngine(session: Session, everyMs: number) {
  const [status, setStatus] = useState<EngineStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const allowed = may(session, "run_billing");
  useEffect(() => {
    if (!allowed) return;
    let alive = true;
    const load = () =>
      call(commands.billingEngine())
        .then((s) => {
          if (!alive) return;
          setStatus(s);
          setError(null);
        })
        .catch((e: unknown) => {
          if (alive) setError(messageOf(e));
        });
    void load();
    const timer = window.setInterval(() => void load(), everyMs);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [allowed, everyMs]);
  return { status, error, allowed };
}
