import type { EngineStatus, Session } from "../bindings";
import { formatDateTime } from "../format";
import { useBillingEngine } from "../hooks/useBillingEngine";

function runnerText(s: EngineStatus): string {
  if (!s.runner) return "Nobody runs it right now.";
  const who = s.runner.kind === "service" ? `IT's billing service on ${s.runner.name}` : `the desk ${s.runner.name}`;
  const since = s.runner.since ? ` since ${formatDateTime(s.runner.since)}` : "";
  return `Run by ${who}${since}${s.runner.this_process ? " (this desk)" : ""}.`;
}

function hereText(s: EngineStatus): string | null {
  const here = s.here;
  if (here === "off") return null;
  if (here === "running") return "This desk runs the billing engine.";
  if (here === "standby") return "This desk is ready to take over if the one running it stops.";
  return `This desk does not run it: ${here.cannot_run}`;
}

function when(iso: string | null | undefined): string {
  return iso ? formatDateTime(iso) : "—";
}

/** Settings → Billing engine (billing managers and IT): which desk or service bills the clinic, its last
 * pass and what it did, the work due, and the last error. */
export function BillingEnginePanel({ session }: { session: Session }) {
  const { status, error, allowed } = useBillingEngine(session, 10_000);
  if (!allowed) return null;
  return (
    <section className="panel" aria-labelledby="engine-title" data-testid="engine-panel">
      <h2 id="engine-title">Billing engine</h2>
      <p className="muted">
        One desk (or IT&apos;s billing service) charges subscription cycles, runs recovery retries and deadlines, settles
        unknown payments and sends reminders, with nobody signed in. If it closes, another desk takes over within two
        minutes.
      </p>
      {error && <p className="form-error">{error}</p>}
      {status && (
        <dl className="facts">
          <dt>Who runs it</dt>
          <dd data-testid="engine-runner">{runnerText(status)}</dd>
          {hereText(status) && (
            <>
              <dt>This desk</dt>
              <dd data-testid="engine-here">{hereText(status)}</dd>
            </>
          )}
          <dt>Last pass</dt>
          <dd data-testid="engine-last-pass">
            {status.last_pass_at
              ? `${formatDateTime(status.last_pass_at)}${status.last_pass_by ? ` by ${status.last_pass_by}` : ""}: ${status.last_pass ?? ""}`
              : "No pass has run yet."}
          </dd>
          <dt>Due now</dt>
          <dd data-testid="engine-due">
            {status.due.cycles_due} subscription cycles, {status.due.retries_due} retries,{" "}
            {status.due.unsettled_payments} payments waiting for their outcome
          </dd>
          <dt>Next due</dt>
          <dd>
            Cycle {when(status.due.next_cycle_at)} · retry {when(status.due.next_retry_at)}
          </dd>
          {status.last_error && (!status.last_pass_at || (status.last_error_at ?? "") > status.last_pass_at) && (
            <>
              <dt>Last error</dt>
              <dd className="error-text" data-testid="engine-error">
                {when(status.last_error_at)}: {status.last_error}
              </dd>
            </>
          )}
          {status.host === "service" && (
            <>
              <dt>Set by IT</dt>
              <dd>Billing runs as a service on this clinic&apos;s server, not on the desks.</dd>
            </>
          )}
        </dl>
      )}
      {status?.warning && (
        <p className="error-text" role="alert" data-testid="engine-warning">
          {status.warning}
        </p>
      )}
    </section>
  );
}

/** The top bar's warning when no billing pass has run for an hour: one click opens Settings. */
export function EngineWarningChip({ session, onOpen }: { session: Session; onOpen: () => void }) {
  const { status } = useBillingEngine(session, 60_000);
  if (!status?.warning) return null;
  return (
    <button type="button" className="chip red" onClick={onOpen} title={status.warning} data-testid="engine-warning-chip">
      {status.last_pass_at ? "Billing has not run for over an hour" : "Billing has not run yet"}
    </button>
  );
}
