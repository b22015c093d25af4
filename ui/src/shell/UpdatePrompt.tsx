import { useState } from "react";
import { commands } from "../bindings";
import { call, messageOf } from "../api";
import { useSubmit } from "../hooks/useSubmit";
import { useUpdateStatus } from "../hooks/useUpdateStatus";

/**
 * The unobtrusive bar that offers a waiting update: the person at the desk finishes with the current
 * patient, then restarts. A required update has no "Later today"; a refused one says so plainly.
 */
export function UpdatePrompt() {
  const [status, setStatus, refresh] = useUpdateStatus();
  const { busy, error, setError, submit } = useSubmit();
  const [dismissed, setDismissed] = useState<string | null>(null);
  const phase = status?.phase;

  if (!status || !phase) return null;
  if (phase.kind === "refused") {
    if (dismissed === phase.version) return null;
    return (
      <div className="update-bar refused" role="alert" data-testid="update-refused">
        <span>{phase.message}</span>
        <button type="button" onClick={() => setDismissed(phase.version)}>
          Dismiss
        </button>
      </div>
    );
  }
  if (phase.kind === "downloading" || phase.kind === "installing") {
    const pct =
      phase.kind === "downloading" && phase.total ? Math.round(((phase.received ?? 0) / phase.total) * 100) : null;
    return (
      <div className="update-bar" role="status" data-testid="update-progress">
        {phase.kind === "downloading"
          ? `Downloading ClinicPay ${phase.version}${pct === null ? "…" : ` · ${pct}%`}`
          : `Installing ClinicPay ${phase.version}; ClinicPay restarts by itself…`}
      </div>
    );
  }
  if (phase.kind !== "available") return null;
  const postponed = status.postponed_until !== null && new Date(status.postponed_until) > new Date();
  if (postponed && !phase.required) return null;

  function restart() {
    void submit(
      async () => {
        await call(commands.installUpdate());
      },
      (e) => {
        setError(messageOf(e));
        refresh();
      },
    );
  }
  async function later() {
    try {
      setStatus(await call(commands.postponeUpdate()));
    } catch (e) {
      setError(messageOf(e));
    }
  }
  return (
    <div className={`update-bar${phase.required ? " required" : ""}`} role="status" data-testid="update-available">
      <span>
        {phase.required ? "Your clinic requires " : ""}ClinicPay {phase.version}
        {phase.required ? "." : " is ready."} Finish with the current patient, then restart: it takes a few seconds.
      </span>
      <button type="button" className="primary" disabled={busy} onClick={restart} data-testid="update-restart">
        {busy ? "Updating…" : "Restart to update"}
      </button>
      {!phase.required && (
        <button type="button" disabled={busy} onClick={() => void later()} data-testid="update-later">
          Later today
        </button>
      )}
      {error && (
        <span className="form-error" role="alert" data-testid="update-error">
          {error}
        </span>
      )}
    </div>
  );
}
