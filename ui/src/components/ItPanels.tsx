// For IT, and for whoever is at the desk when an update arrives: the update prompt, the updates and
// desks panels of Settings, and the diagnostics bundle button.
import { useCallback, useEffect, useState } from "react";
import { commands, type DeskView, type Session, type UpdateStatus_Serialize as UpdateStatus } from "../bindings";
import { call, messageOf } from "../api";
import { formatDateTime } from "../format";
import { may, useToast } from "../ui";

/** How often the window asks the backend how updating stands (a local read, no network): often while
 * a check or a download is under way, so the prompt appears as soon as the check answers. */
const STATUS_EVERY_MS = 30_000;
const STATUS_BUSY_EVERY_MS = 1_000;
const BUSY: string[] = ["not_checked_yet", "checking", "downloading", "installing"];

function useUpdateStatus(): [UpdateStatus | null, (s: UpdateStatus) => void, () => void] {
  const [status, setStatus] = useState<UpdateStatus | null>(null);
  const refresh = useCallback(() => {
    call(commands.updateStatus())
      .then(setStatus)
      .catch(() => undefined);
  }, []);
  const busy = status === null || BUSY.includes(status.phase.kind);
  useEffect(() => {
    refresh();
    const timer = window.setInterval(refresh, busy ? STATUS_BUSY_EVERY_MS : STATUS_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [refresh, busy]);
  return [status, setStatus, refresh];
}

/**
 * The unobtrusive bar that offers a waiting update: the person at the desk finishes with the current
 * patient, then restarts. A required update has no "Later today"; a refused one says so plainly.
 */
export function UpdatePrompt() {
  const [status, setStatus, refresh] = useUpdateStatus();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
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

  async function restart() {
    setBusy(true);
    setError(null);
    try {
      await call(commands.installUpdate());
    } catch (e) {
      setError(messageOf(e));
      refresh();
    } finally {
      setBusy(false);
    }
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
      <button type="button" className="primary" disabled={busy} onClick={() => void restart()} data-testid="update-restart">
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

/** Settings → Desks (IT): every desk on this database, its version and when it was last seen. */
export function DesksPanel({ session }: { session: Session }) {
  const [desks, setDesks] = useState<DeskView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!may(session, "manage_updates")) return;
    call(commands.desks())
      .then(setDesks)
      .catch((e) => setError(messageOf(e)));
  }, [session]);
  if (!may(session, "manage_updates")) return null;
  return (
    <section className="panel" aria-labelledby="desks-title" data-testid="desks-panel">
      <h2 id="desks-title">Desks</h2>
      {error && <p className="form-error">{error}</p>}
      {desks && desks.length === 0 && <p className="muted">No desk has reported in yet.</p>}
      {desks && desks.length > 0 && (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Desk</th>
              <th scope="col">Version</th>
              <th scope="col">Database</th>
              <th scope="col">Channel</th>
              <th scope="col">Managed</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {desks.map((d) => (
              <tr key={d.desk_id} data-testid="desk-row">
                <td>{d.name}</td>
                <td>{d.app_version}</td>
                <td>{d.database === "postgres" ? "PostgreSQL" : "This computer (SQLite)"}</td>
                <td>{d.channel}</td>
                <td>{d.managed ? "Yes" : "No"}</td>
                <td>
                  {formatDateTime(d.last_seen_at)}
                  {d.running ? <span className="chip green">running</span> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** One click: the diagnostics zip for support, saved in the reports folder. */
export function DiagnosticsPanel() {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  async function write() {
    setBusy(true);
    try {
      const written = await call(commands.writeDiagnostics());
      setSaved(written.path);
      toast.ok(written.message);
    } catch (e) {
      toast.error(messageOf(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section className="panel" aria-labelledby="diagnostics-title" data-testid="diagnostics-panel">
      <h2 id="diagnostics-title">Help from support</h2>
      <p className="muted">
        A diagnostics file holds this desk&apos;s version, settings, recent app logs and how gateway calls went, without card
        numbers, secrets or patient details.
      </p>
      <button type="button" disabled={busy} onClick={() => void write()} data-testid="write-diagnostics">
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
