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

/** How soon after a change the screen reloads: changes that arrive meanwhile are taken by the same
 * reload. */
const GATHER_MS = 30;

/** Calls `reload` shortly after a change `matches`, and after the database connection comes back.
 * Twenty desks may change things fifty times a second, so the wait starts at the first change and is
 * not put off by the next ones (the screen keeps up instead of waiting for a quiet moment), and a
 * reload never starts while the last one is still loading: changes that come during one are taken by
 * the one after it. */
export function useLiveReload(matches: (c: DataChanged) => boolean, reload: () => unknown) {
  const latest = useRef({ matches, reload });
  useEffect(() => {
    latest.current = { matches, reload };
  });
  useEffect(() => {
    start();
    let timer: number | undefined;
    let loading = false;
    let again = false;
    let gone = false;
    const run = async () => {
      timer = undefined;
      loading = true;
      again = false;
      try {
        await latest.current.reload();
      } catch {
        /* the screen shows its own error */
      }
      loading = false;
      if (again && !gone) schedule();
    };
    const schedule = () => {
      if (loading) again = true;
      else if (timer === undefined) timer = window.setTimeout(() => void run(), GATHER_MS);
    };
    const listener: Listener = (c) => {
      if (c.kind === "lost") return;
      if (c.kind === "reconnected" || latest.current.matches(c)) schedule();
    };
    listeners.add(listener);
    return () => {
      gone = true;
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
