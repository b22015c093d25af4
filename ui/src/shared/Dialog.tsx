import { useEffect, useRef, type ReactNode } from "react";

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
