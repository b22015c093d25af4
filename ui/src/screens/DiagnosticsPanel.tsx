import { useState } from "react";
import { commands } from "../bindings";
import { call, messageOf } from "../api";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

/** One click: the diagnostics zip for support, saved in the reports folder. */
export function DiagnosticsPanel() {
  const toast = useToast();
  const { busy, submit } = useSubmit();
  const [saved, setSaved] = useState<string | null>(null);
  function write() {
    void submit(
      async () => {
        const written = await call(commands.writeDiagnostics());
        setSaved(written.path);
        toast.ok(written.message);
      },
      (e) => toast.error(messageOf(e)),
    );
  }
  return (
    <section className="panel" aria-labelledby="diagnostics-title" data-testid="diagnostics-panel">
      <h2 id="diagnostics-title">Help from support</h2>
      <p className="muted">
        A diagnostics file holds this desk&apos;s version, settings, recent app logs and how gateway calls went, without card
        numbers, secrets or patient details.
      </p>
      <button type="button" disabled={busy} onClick={write} data-testid="write-diagnostics">
        {busy ? "Writing…" : "Write diagnostics file"}
      </button>
      {saved && (
        <p data-testid="diagnostics-saved">
          Saved to <code>{saved}</code>
        </p>
      )}
    </section>
  );
}
