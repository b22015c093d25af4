// Settings → Updates, for IT and whoever wonders which version the desk runs.
import { useState } from "react";
import { commands, type UpdateStatus_Serialize as UpdateStatus } from "../bindings";
import { call } from "../api";
import { formatDateTime } from "../format";
import { useUpdateStatus } from "../hooks/useUpdateStatus";

function phaseWords(s: UpdateStatus): string {
  const p = s.phase;
  switch (p.kind) {
    case "not_configured":
      return "No update server is set: set updates.endpoint (or ask IT to set it in the managed configuration).";
    case "not_checked_yet":
      return "Not checked yet.";
    case "checking":
      return "Checking…";
    case "up_to_date":
      return "Up to date.";
    case "available":
      return `ClinicPay ${p.version} is ready to install${p.required ? " (required by the clinic)" : ""}.`;
    case "downloading":
      return `Downloading ClinicPay ${p.version}…`;
    case "installing":
      return `Installing ClinicPay ${p.version}…`;
    case "refused":
    case "failed":
      return p.message;
  }
}

/** Settings → Updates: this desk's version, channel, server and a "Check now". */
export function UpdatesPanel() {
  const [status, setStatus] = useUpdateStatus();
  const [busy, setBusy] = useState(false);
  if (!status) return null;
  async function checkNow() {
    setBusy(true);
    try {
      setStatus(await call(commands.checkForUpdates()));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="panel" aria-labelledby="updates-title" data-testid="updates-panel">
      <h2 id="updates-title">Updates</h2>
      <dl className="facts">
        <dt>This desk runs</dt>
        <dd data-testid="current-version">ClinicPay {status.current_version}</dd>
        <dt>Channel</dt>
        <dd>{status.channel}</dd>
        <dt>Update manifest</dt>
        <dd>{status.manifest_url ?? <span className="muted">not set</span>}</dd>
        <dt>Status</dt>
        <dd data-testid="update-phase">
          {phaseWords(status)}
          {status.last_checked_at && <span className="muted"> · checked {formatDateTime(status.last_checked_at)}</span>}
        </dd>
      </dl>
      <button type="button" disabled={busy} onClick={() => void checkNow()} data-testid="check-updates">
        {busy ? "Checking…" : "Check now"}
      </button>
    </section>
  );
}
