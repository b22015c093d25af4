import { useEffect, useState } from "react";
import { commands, type DeskView, type Session } from "../bindings";
import { call, messageOf } from "../api";
import { formatDateTime } from "../format";
import { may } from "../shared/permissions";

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
              <th scope="col">Clock</th>
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
                <td data-testid="desk-clock">
                  {d.clock_warning ? (
                    <span className="error-text">{d.clock_warning}</span>
                  ) : d.clock_skew_seconds === null ? (
                    <span className="muted">—</span>
                  ) : (
                    "Right"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
