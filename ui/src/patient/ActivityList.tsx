import type { ActivityView } from "../bindings";
import { formatDateTime } from "../format";

export function ActivityList({ entries }: { entries: ActivityView[] }) {
  if (entries.length === 0) {
    return (
      <div className="empty-state small" data-testid="no-activity">
        <p>Nothing has been changed for this patient in ClinicPay yet. Every change to the patient or a card shows here, with who made it.</p>
      </div>
    );
  }
  return (
    <ol className="activity" data-testid="activity-list">
      {entries.map((e) => (
        <li key={e.seq}>
          <span className="muted when">{formatDateTime(e.at)}</span>
          <span className="what">{e.summary}</span>
          <span className="muted who">by {e.actor}</span>
        </li>
      ))}
    </ol>
  );
}
