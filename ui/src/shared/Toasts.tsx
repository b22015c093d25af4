// Toasts: a success fades, an error stays until dismissed. The same for every screen.
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react";

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
