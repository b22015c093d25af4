// The window's shared pieces: toasts, the modal dialog, money, status chips. The same component for the
// same thing everywhere.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import type { Money, Permission, Session } from "./bindings";

// ------------------------------------------------------------------ toasts

type Toast = { id: number; tone: "ok" | "error"; text: string };
type ToastApi = { ok: (text: string) => void; error: (text: string) => void };

const ToastContext = createContext<ToastApi>({ ok: () => undefined, error: () => undefined });

export function useToast(): ToastApi {
  return useContext(ToastContext);
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const push = useCallback((tone: Toast["tone"], text: string) => {
    const id = next.current++;
    setToasts((t) => [...t, { id, tone, text }]);
    // Success fades; an error stays until dismissed, so it can be read out to the patient.
    if (tone === "ok") setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 6000);
  }, []);
  const api = useRef<ToastApi>({ ok: (t) => push("ok", t), error: (t) => push("error", t) });
  return (
    <ToastContext.Provider value={api.current}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.tone}`} data-testid={t.tone === "ok" ? "toast" : "toast-error"}>
            <span>{t.text}</span>
            <button
              type="button"
              className="link"
              aria-label="Dismiss"
              onClick={() => setToasts((all) => all.filter((x) => x.id !== t.id))}
            >
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

// ------------------------------------------------------------------ dialog

/** A modal dialog: Esc closes (unless busy), focus starts inside and returns where it was. */
export function Dialog({
  title,
  onClose,
  children,
  busy = false,
  testId,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  busy?: boolean;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = box.current?.querySelector<HTMLElement>("[autofocus], input, select, button:not([aria-label='Close'])");
    first?.focus();
    return () => before?.focus();
  }, []);
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if (e.key === "Escape" && !busy) onClose();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [busy, onClose]);
  return (
    <div className="overlay" onMouseDown={(e) => e.target === e.currentTarget && !busy && onClose()}>
      <div className="panel dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title" ref={box} data-testid={testId}>
        <header className="dialog-header">
          <h2 id="dialog-title">{title}</h2>
          <button type="button" className="link" aria-label="Close" onClick={onClose} disabled={busy}>
            ×
          </button>
        </header>
        {children}
      </div>
    </div>
  );
}

// ------------------------------------------------------------------ money and statuses

const fractionDigits = new Map<string, number>();

/** "$1,234.50": exact minor units, shown in the currency's own way. */
export function formatMoney(m: Money): string {
  let digits = fractionDigits.get(m.currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat("en-US", { style: "currency", currency: m.currency }).resolvedOptions()
      .maximumFractionDigits ?? 2;
    fractionDigits.set(m.currency, digits);
  }
  const f = new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: m.currency,
    minimumFractionDigits: digits,
  });
  return f.format(m.minor / 10 ** digits);
}

export function MoneyCell({ money }: { money: Money }) {
  return <td className="money">{formatMoney(money)}</td>;
}

type Tone = "green" | "amber" | "red" | "grey";

const STATUS_TONES: Record<string, Tone> = {
  PAID: "green",
  SUCCEEDED: "green",
  ACTIVE: "green",
  RESOLVED: "green",
  OPEN: "amber",
  AWAITING_PAYMENT: "amber",
  PENDING: "amber",
  UNKNOWN: "amber",
  RETRY_SCHEDULED: "amber",
  PAUSED: "amber",
  FAILED: "red",
  NEEDS_PAYMENT_METHOD: "red",
  FAILED_FINAL: "red",
  SUSPENDED: "red",
  REFUNDED: "grey",
  VOID: "grey",
  CANCELLED: "grey",
};

/** "NEEDS_PAYMENT_METHOD" → "Needs payment method". */
export function statusWords(status: string): string {
  const s = status.toLowerCase().replaceAll("_", " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function StatusChip({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`chip ${STATUS_TONES[status] ?? "grey"}`} data-testid={testId} data-status={status}>
      {statusWords(status)}
    </span>
  );
}

export function may(session: Session, p: Permission): boolean {
  return session.permissions.includes(p);
}

// ------------------------------------------------------------------ clipboard

/** Copies text; falls back to a hidden text area where the Clipboard API is not offered. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}
