// The clinic-wide screens: payments, failed payments, recovery, the processor log and settings.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Channel } from "@tauri-apps/api/core";
import {
  commands,
  type Gateway,
  type GatewayReadiness,
  type SweepProgress,
  type LogEntry_Serialize,
  type Order_Serialize,
  type PatientId,
  type Payment_Serialize,
  type Session,
  type SettingsView,
} from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { formatDateTime, gatewayName } from "../format";
import { MoneyCell, StatusChip, may, useToast } from "../ui";
import { PaymentsTable } from "./Account";
import { DesksPanel, DiagnosticsPanel, UpdatesPanel } from "./ItPanels";
import { isMoney, useLiveReload } from "../live";

/** Loads once and on demand, with the skeleton / error / data states every screen shares. */
function useLoad<T>(load: () => Promise<T>, onError: (e: ApiError) => void) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(async () => {
    setError(null);
    try {
      setData(await load());
    } catch (e) {
      if (e instanceof ApiError) onError(e);
      setError(messageOf(e));
    }
  }, [load, onError]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, reload };
}

function Loading({ error, retry }: { error: string | null; retry: () => void }) {
  if (error)
    return (
      <div className="panel notice" role="alert">
        <p>{error}</p>
        <button type="button" onClick={retry}>
          Try again
        </button>
      </div>
    );
  return (
    <div className="skeleton" aria-busy="true" aria-label="Loading">
      <div className="skeleton-line wide" />
      <div className="skeleton-block" />
    </div>
  );
}

export function PaymentsScreen({
  failedOnly,
  onOpenPatient,
  onError,
}: {
  failedOnly: boolean;
  onOpenPatient: (id: PatientId) => void;
  onError: (e: ApiError) => void;
}) {
  const [search, setSearch] = useState("");
  const [applied, setApplied] = useState("");
  const load = useCallback(
    () => call(failedOnly ? commands.failedPayments(applied.trim() || null) : commands.recentPayments()),
    [failedOnly, applied],
  );
  const { data, error, reload } = useLoad<Payment_Serialize[]>(load, onError);
  useLiveReload(isMoney, () => void reload());
  const title = failedOnly ? "Failed payments" : "Payments";
  return (
    <section className="stack" data-testid={failedOnly ? "failed-payments-screen" : "payments-screen"}>
      <h1>{title}</h1>
      <p className="muted">
        {failedOnly
          ? "The newest declined or failed charges, with the gateway's own words. Open the patient to see what to check."
          : "The clinic's newest payments on both gateways."}
      </p>
      {failedOnly && (
        <form
          className="toolbar filters"
          onSubmit={(e) => {
            e.preventDefault();
            setApplied(search);
          }}
        >
          <input
            type="search"
            aria-label="Search failed payments by patient, decline code or message"
            placeholder="Patient, decline code or message"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            data-testid="failed-search"
          />
          <button type="submit">Search</button>
        </form>
      )}
      {!data ? (
        <Loading error={error} retry={() => void reload()} />
      ) : data.length === 0 ? (
        <div className="empty-state small" data-testid="no-payments-found">
          <p>{failedOnly ? (applied ? `No failed payment matches "${applied}".` : "No failed payments. Nothing to follow up.") : "No payments yet."}</p>
        </div>
      ) : (
        <PaymentsTable payments={data} onOpenPatient={(p) => onOpenPatient(p.patient_id)} />
      )}
    </section>
  );
}

/** A billing manager's sweep over every open recovery order, with a progress bar and Cancel. */
function RecoverySweep({ onFinished }: { onFinished: () => void }) {
  const toast = useToast();
  const [progress, setProgress] = useState<SweepProgress | null>(null);
  const [running, setRunning] = useState(false);
  async function start() {
    if (running) return;
    setRunning(true);
    const channel = new Channel<SweepProgress>();
    channel.onmessage = (p) => setProgress(p);
    try {
      const end = await call(commands.recoverySweep(channel));
      setProgress(end);
      toast.ok(
        end.cancelled
          ? `Sweep cancelled after ${end.done} of ${end.total} orders: ${end.paid} paid. The rest wait for their scheduled retry.`
          : `Sweep finished: ${end.paid} of ${end.total} orders paid. The others still need a card or will be retried on schedule.`,
      );
    } catch (e) {
      toast.error(messageOf(e));
    } finally {
      setRunning(false);
      onFinished();
    }
  }
  const pct = progress && progress.total > 0 ? Math.round((progress.done / progress.total) * 100) : 0;
  return (
    <div className="sweep" data-testid="recovery-sweep">
      {running ? (
        <>
          <div
            className="progress"
            role="progressbar"
            aria-label="Recovery sweep"
            aria-valuemin={0}
            aria-valuemax={progress?.total ?? 0}
            aria-valuenow={progress?.done ?? 0}
          >
            <div className="progress-bar" style={{ width: `${pct}%` }} />
          </div>
          <span data-testid="sweep-counts">
            {progress ? `${progress.done} of ${progress.total} orders · ${progress.paid} paid` : "Starting…"}
          </span>
          <button type="button" onClick={() => void call(commands.cancelRecoverySweep())} data-testid="cancel-sweep">
            Cancel
          </button>
        </>
      ) : (
        <button type="button" className="primary" onClick={() => void start()} data-testid="start-sweep">
          Retry all open recovery orders now
        </button>
      )}
    </div>
  );
}

export function RecoveryScreen({
  session,
  onOpenPatient,
  onError,
}: {
  session: Session;
  onOpenPatient: (id: PatientId) => void;
  onError: (e: ApiError) => void;
}) {
  const load = useCallback(() => call(commands.recoveryOrders(null)), []);
  const { data, error, reload } = useLoad<Order_Serialize[]>(load, onError);
  useLiveReload(isMoney, () => void reload());
  if (!data) return <Loading error={error} retry={() => void reload()} />;
  const open = data.filter((o) => o.recovery_status === "NEEDS_PAYMENT_METHOD" || o.recovery_status === "RETRY_SCHEDULED");
  return (
    <section className="stack" data-testid="recovery-screen">
      <h1>Recovery</h1>
      <p className="muted">
        Subscription charges that failed. Orders that need a payment method wait for the patient to save a card for the
        clinic&apos;s gateway; ClinicPay retries them as soon as one is saved.
      </p>
      {may(session, "run_billing") && <RecoverySweep onFinished={() => void reload()} />}
      {open.length === 0 ? (
        <div className="empty-state small">
          <p>No order is in recovery.</p>
        </div>
      ) : (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Patient</th>
              <th scope="col" className="money">
                Amount
              </th>
              <th scope="col">Recovery</th>
              <th scope="col">Next retry</th>
              <th scope="col">Last message</th>
            </tr>
          </thead>
          <tbody>
            {open.map((o) => (
              <tr key={o.id} data-testid="recovery-row">
                <td>#{o.id}</td>
                <td>
                  <button type="button" className="link" onClick={() => onOpenPatient(o.patient_id)}>
                    Patient #{o.patient_id}
                  </button>
                </td>
                <MoneyCell money={o.amount} />
                <td>{o.recovery_status && <StatusChip status={o.recovery_status} />}</td>
                <td>{o.next_retry_at ? formatDateTime(o.next_retry_at) : <span className="muted">—</span>}</td>
                <td>{o.last_message ?? <span className="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function ProcessorLogScreen({ onError }: { onError: (e: ApiError) => void }) {
  const [search, setSearch] = useState("");
  const [applied, setApplied] = useState("");
  const load = useCallback(() => call(commands.processorLog(null, applied.trim() || null)), [applied]);
  const { data, error, reload } = useLoad<LogEntry_Serialize[]>(load, onError);
  const [open, setOpen] = useState<number | null>(null);
  if (!data) return <Loading error={error} retry={() => void reload()} />;
  return (
    <section className="stack" data-testid="processor-log-screen">
      <h1>Processor log</h1>
      <p className="muted">
        Every call ClinicPay made to a gateway, as sent and answered, with card numbers and keys removed. Quote the entry
        number when escalating.
      </p>
      <form
        className="toolbar filters"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(search);
        }}
      >
        <input
          type="search"
          aria-label="Search the processor log"
          placeholder="Payment key, decline code, call or outcome"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          data-testid="log-search"
        />
        <button type="submit">Search</button>
      </form>
      {data.length === 0 ? (
        <div className="empty-state small">
          <p>{applied ? `No gateway call mentions "${applied}".` : "No gateway calls yet."}</p>
        </div>
      ) : (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Entry</th>
              <th scope="col">When</th>
              <th scope="col">Gateway</th>
              <th scope="col">Call</th>
              <th scope="col">Outcome</th>
              <th scope="col" className="money">
                Time
              </th>
            </tr>
          </thead>
          <tbody>
            {data.map((e) => (
              <tr key={e.id} data-testid="log-row">
                <td>
                  <button type="button" className="link" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                    #{e.id}
                  </button>
                  {open === e.id && (
                    <pre className="log-body">
                      {e.request}
                      {"\n\n"}
                      {e.response}
                    </pre>
                  )}
                </td>
                <td>{formatDateTime(e.at)}</td>
                <td>{gatewayName(e.gateway === "nmi" ? "nmi" : "stripe")}</td>
                <td>
                  <code className="op">{e.operation}</code>
                </td>
                <td>{e.outcome}</td>
                <td className="money">{e.duration_ms} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const SETTING_HELP: Record<string, string> = {
  "clinic-name": "Shown on the sign-in screen and in reports.",
  gateway: "Where new cards and payments go: stripe or nmi.",
  "fallback-gateway": "Used for a manual retry when the patient has no card for the active gateway (or none).",
  currency: "The clinic's currency, e.g. USD.",
  "refunds.front-desk-limit": "Front desk may refund up to this amount; above it a billing manager must.",
  "stripe.publishable-key": "Stripe's publishable key (pk_…) for the card form. Secret keys go in the keychain.",
  "nmi.tokenization-key": "NMI's Collect.js tokenization key for the card form.",
  "desk.lock-after-minutes": "The desk locks after this many idle minutes (0: never).",
  "stripe.api-base": "Only for testing against a Stripe stand-in; empty means Stripe itself.",
  "nmi.api-base": "Only for testing against an NMI stand-in; empty means NMI itself.",
  "recovery.retry-days": "Days after a failed subscription charge on which it is retried, e.g. 2,5.",
  "recovery.max-attempts": "At most this many automatic retries.",
  "recovery.suspend-day": "From this day after the failure the subscription is suspended.",
  "recovery.final-day": "From this day the final notice goes out and recovery ends unpaid.",
  "recovery.promote-successful-card": "Make a card the default when it pays a recovery charge (true or false).",
  "reminders.enabled": "Email patients before their cards expire (true or false).",
  "reminders.thresholds": "Days before expiry on which reminders go out, e.g. 60,30,7,0.",
  "updates.endpoint": "The clinic's update server (https://…); desks read CHANNEL/latest.json from it.",
  "updates.channel": "stable for most desks; pilot for the desks that try releases first.",
};

/** Before switching the active gateway: who would break, and the bulk "please re-save your card" email. */
function GatewayReadinessPanel({ current, session }: { current: Gateway; session: Session }) {
  const toast = useToast();
  const target: Gateway = current === "nmi" ? "stripe" : "nmi";
  const [readiness, setReadiness] = useState<GatewayReadiness | null>(null);
  const [busy, setBusy] = useState(false);
  async function check() {
    setBusy(true);
    try {
      setReadiness(await call(commands.gatewayReadiness(target)));
    } catch (e) {
      toast.error(messageOf(e));
    } finally {
      setBusy(false);
    }
  }
  async function email() {
    setBusy(true);
    try {
      const r = await call(commands.requestCardResave(target));
      toast.ok(
        `${r.sent} email${r.sent === 1 ? "" : "s"} sent${r.skipped ? `; ${r.skipped} patient${r.skipped === 1 ? "" : "s"} already emailed today or with no card to name (call them)` : ""}.`,
      );
    } catch (e) {
      toast.error(messageOf(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="panel stack" data-testid="gateway-readiness">
      <div className="toolbar">
        <h2 className="section-title">Before switching to {gatewayName(target)}</h2>
        <button type="button" onClick={() => void check()} disabled={busy} data-testid="check-readiness">
          Check who would be affected
        </button>
      </div>
      {readiness && (
        <>
          <p data-testid="readiness-message">{readiness.message}</p>
          {readiness.patients_without_card.length > 0 && (
            <table className="data-table">
              <thead>
                <tr>
                  <th scope="col">Patient</th>
                  <th scope="col" className="money">Subscriptions</th>
                  <th scope="col" className="money">Unpaid invoices</th>
                  <th scope="col">Card on file</th>
                </tr>
              </thead>
              <tbody>
                {readiness.patients_without_card.slice(0, 20).map((p) => (
                  <tr key={p.patient_id} data-testid="at-risk-row">
                    <td>
                      {p.name} <span className="muted">{p.email}</span>
                    </td>
                    <td className="money">{p.subscriptions}</td>
                    <td className="money">{p.open_invoices}</td>
                    <td>{p.has_any_card ? `yes, not usable with ${gatewayName(target)}` : <strong>none: call them</strong>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {readiness.patients_without_card.length > 20 && (
            <p className="muted small">…and {readiness.patients_without_card.length - 20} more (all in `clinicpay gateway readiness`).</p>
          )}
          {may(session, "send_reminders") && readiness.patients_without_card.some((p) => p.has_any_card) && (
            <button type="button" className="primary" onClick={() => void email()} disabled={busy} data-testid="email-resave">
              Email them to re-save their card for {gatewayName(target)}
            </button>
          )}
        </>
      )}
    </div>
  );
}

export function SettingsScreen({ session, onError }: { session: Session; onError: (e: ApiError) => void }) {
  const load = useCallback(() => call(commands.settings()), []);
  const { data, error, reload } = useLoad<SettingsView>(load, onError);
  useLiveReload((c) => c.subject_type === "setting", () => void reload());
  const canChange = may(session, "change_settings");
  if (!data) return <Loading error={error} retry={() => void reload()} />;
  return (
    <section className="stack" data-testid="settings-screen">
      <h1>Settings</h1>
      <p className="muted">
        {canChange
          ? "Every change is checked before it is saved and recorded in the activity log with your name."
          : "Only billing managers and IT can change these."}
      </p>
      {canChange && may(session, "view_reports") && (
        <GatewayReadinessPanel
          current={(data.values.find((v) => v.key === "gateway")?.value ?? "nmi") as Gateway}
          session={session}
        />
      )}
      {data.managed_file && (
        <p className="managed-note" data-testid="managed-note">
          Settings marked <span className="chip">Set by IT</span> come from this computer&apos;s managed configuration (
          <code>{data.managed_file}</code>) and cannot be changed here.
        </p>
      )}
      <table className="data-table settings-table">
        <tbody>
          {data.values.map((v) => (
            <SettingRow
              key={v.key}
              name={v.key}
              value={v.value}
              managed={v.managed}
              editable={canChange && !v.managed}
              onSaved={() => void reload()}
            />
          ))}
        </tbody>
      </table>
      <UpdatesPanel />
      <DesksPanel session={session} />
      <DiagnosticsPanel />
    </section>
  );
}

function SettingRow({
  name,
  value,
  managed,
  editable,
  onSaved,
}: {
  name: string;
  value: string;
  managed: boolean;
  editable: boolean;
  onSaved: () => void;
}) {
  const toast = useToast();
  const [draft, setDraft] = useState(value);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => setDraft(value), [value]);
  async function save(e: FormEvent) {
    e.preventDefault();
    if (busy || draft === value) return;
    setBusy(true);
    setError(null);
    try {
      toast.ok((await call(commands.setSetting(name, draft))).message);
      onSaved();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }
  const id = `setting-${name.replaceAll(".", "-")}`;
  return (
    <tr data-testid="setting-row" data-key={name}>
      <th scope="row">
        <label htmlFor={id}>{name}</label>
        {SETTING_HELP[name] && <p className="muted small">{SETTING_HELP[name]}</p>}
      </th>
      <td>
        {editable ? (
          <form className="inline-form" onSubmit={(e) => void save(e)}>
            <input id={id} value={draft} onChange={(e) => setDraft(e.target.value)} />
            <button type="submit" disabled={busy || draft === value}>
              Save
            </button>
            {error && (
              <p className="form-error" role="alert">
                {error}
              </p>
            )}
          </form>
        ) : (
          <span id={id}>
            {value || <span className="muted">not set</span>}
            {managed && (
              <span className="chip" data-testid="managed-chip" title="Set in this computer's managed configuration">
                {" "}
                Set by IT
              </span>
            )}
          </span>
        )}
      </td>
    </tr>
  );
}
