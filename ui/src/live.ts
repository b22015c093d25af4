// Live updates between desks: the backend passes on what the clinic's database says changed (PostgreSQL
// LISTEN/NOTIFY), and each screen reloads only when the change is about what it shows. One listener for
// the whole window, fanned out to the screens.
import { useEffect, useRef, useState } from "react";
import { events, type DataChanged_Serialize as DataChanged } from "./bindings";

type Listener = (c: DataChanged) => void;
const listeners = new Set<Listener>();
let listening = false;

function start() {
  if (listening) return;
  listening = true;
  events.dataChanged
    .listen((e) => listeners.forEach((l) => l(e.payload)))
    .catch(() => {
      listening = false;
    });
}

/** Calls `reload` shortly after a change `matches` (several changes at once reload once), and after
 * the database connection comes back. */
export function useLiveReload(matches: (c: DataChanged) => boolean, reload: () => void) {
  const latest = useRef({ matches, reload });
  useEffect(() => {
    latest.current = { matches, reload };
  });
  useEffect(() => {
    start();
    let timer: number | undefined;
    const listener: Listener = (c) => {
      if (c.kind === "lost") return;
      if (c.kind === "reconnected" || latest.current.matches(c)) {
        window.clearTimeout(timer);
        timer = window.setTimeout(() => latest.current.reload(), 30);
      }
    };
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      window.clearTimeout(timer);
    };
  }, []);
}

/** False while the connection to the clinic's database is lost. */
export function useDatabaseConnected(): boolean {
  const [connected, setConnected] = useState(true);
  useEffect(() => {
    start();
    const listener: Listener = (c) => setConnected(c.kind !== "lost");
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  return connected;
}

/** Changes to money: payments, refunds, invoices, orders and their recovery, subscriptions. */
export function isMoney(c: DataChanged): boolean {
  return ["payment", "invoice", "order", "subscription"].includes(c.subject_type ?? "");
}
