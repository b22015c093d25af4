// Reconciliation, for billing managers: each gateway's charges and refunds of a period matched to
// ClinicPay's records, the daily runs and any run asked for here, each difference with what to do.
import { useCallback, useState, type FormEvent } from "react";
import { commands, type PatientId, type Reconciliation_Serialize } from "../bindings";
import { ApiError, call } from "../api";
import { formatDateTime, formatMoney, gatewayName } from "../format";
import { Loading } from "../shared/Loading";
import { useLoad } from "../hooks/useLoad";
import { useSubmit } from "../hooks/useSubmit";

const KIND_WORDS: Record<string, string> = {
  taken_not_recorded: "Taken, no payment in ClinicPay",
  taken_recorded_failed: "Taken, recorded as failed",
  recorded_not_taken: "Recorded paid, not taken",
  amount_differs: "Amounts differ",
  charged_twice: "Charged twice",
  refund_not_recorded: "Refund not in ClinicPay",
  refund_recorded_not_done: "Refund recorded, not done",
  refund_recorded_failed: "Refund done, recorded as failed",
  still_unknown: "Still waiting for its outcome",
};

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

function yesterday(): string {
  return new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
}

export function ReconciliationScreen({
  training,
  onOpenPatient,
  onError,
}: {
  training: boolean;
  onOpenPatient: (id: PatientId) => void;
  onError: (e: ApiError) => void;
}) {
  const [from, setFrom] = useState(yesterday());
  const [to, setTo] = useState(yesterday());
  const load = useCallback(() => call(commands.reconciliations()), []);
  const { data: runs, error, reload } = useLoad<Reconciliation_Serialize[]>(load, onError);
  const [openId, setOpenId] = useState<number | null>(null);
  const { busy, error: runError, submit } = useSubmit();

  function runNow(e: FormEvent) {
    e.preventDefault();
    void submit(async () => {
      const result = await call(commands.reconcile(from, to, null));
      await reload();
      setOpenId(result.id ?? null);
    });
  }

  const open = runs?.find((r) => r.id === openId) ?? runs?.[0] ?? null;
  return (
    <section className="stack" data-testid="reconciliation-screen">
      <h1>Reconciliation</h1>
      <p className="muted">
        Every charge and refund each gateway holds for a period, matched to ClinicPay&apos;s records. ClinicPay checks
        the day before every day; money a gateway took or paid back that ClinicPay had recorded as failed is recorded as
        the gateway says, and every other difference waits for you here. Days are UTC.
      </p>
      {training && (
        <p className="warning" data-testid="reconciliation-training">
          This is a training clinic: its demo payments were never at a gateway, so they show here as differences.
          The worker does not reconcile a training clinic every day.
        </p>
      )}
      <form className="toolbar filters" onSubmit={runNow}>
        <label className="inline-label">
          From
          <input type="date" name="reconcile-from" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label className="inline-label">
          To
          <input type="date" name="reconcile-to" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={busy} data-testid="reconcile-now">
          {busy ? "Asking the gateways…" : "Reconcile now"}
        </button>
      </form>
      {runError && (
        <p className="form-error" role="alert" data-testid="reconcile-error">
          {runError}
        </p>
      )}
      {!runs ? (
        <Loading error={error} retry={() => void reload()} />
      ) : runs.length === 0 ? (
        <div className="empty-state small" data-testid="no-reconciliations">
          <p>No reconciliation yet: the worker checks the day before every day, or press Reconcile now.</p>
        </div>
      ) : (
        <div className="split">
          <ul className="run-list" aria-label="Reconciliations">
            {runs.map((r) => (
              <li key={r.id ?? 0}>
                <button
                  type="button"
                  className={r.id === open?.id ? "link active" : "link"}
                  onClick={() => setOpenId(r.id ?? null)}
                  data-testid="reconciliation-run"
                >
                  <span className={r.clean ? "chip green" : "chip amber"}>{r.clean ? "clean" : "to check"}</span>{" "}
                  {r.from === r.to ? r.from : `${r.from} to ${r.to}`}{" "}
                  <span className="muted">· {formatDateTime(r.ran_at)}</span>
                </button>
              </li>
            ))}
          </ul>
          {open && (
            <article className="stack" data-testid="reconciliation">
              <p data-testid="reconciliation-verdict">
                <strong>{open.verdict}</strong>
              </p>
              {open.gateways.map((g) => (
                <div key={g.gateway} className="stack">
                  <h2>{gatewayName(g.gateway)}</h2>
                  {g.unavailable ? (
                    <p className="warning" role="alert">
                      Not asked: {g.unavailable}
                    </p>
                  ) : (
                    <p className="muted">
                      {count(g.gateway_charges, "charge")} and {count(g.gateway_refunds, "refund")} at{" "}
                      {gatewayName(g.gateway)}; {count(g.ledger_payments, "payment")} and {count(g.ledger_refunds, "refund")} in
                      ClinicPay.
                    </p>
                  )}
                  {g.mismatches.length > 0 && (
                    <table className="data-table" data-testid="mismatches">
                      <thead>
                        <tr>
                          <th scope="col">When</th>
                          <th scope="col">Difference</th>
                          <th scope="col">Payment</th>
                          <th scope="col" className="money">
                            ClinicPay
                          </th>
                          <th scope="col" className="money">
                            Gateway
                          </th>
                          <th scope="col">What to do</th>
                        </tr>
                      </thead>
                      <tbody>
                        {g.mismatches.map((m, i) => (
                          <tr key={i} data-testid="mismatch" data-kind={m.kind}>
                            <td>{formatDateTime(m.at)}</td>
                            <td>
                              {KIND_WORDS[m.kind] ?? m.kind}
                              {m.recorded_now && <span className="chip green">recorded now</span>}
                            </td>
                            <td>
                              {m.patient_id !== null ? (
                                <button type="button" className="link" onClick={() => onOpenPatient(m.patient_id as PatientId)}>
                                  {m.payment_id !== null ? `#${m.payment_id}` : "Patient"}
                                </button>
                              ) : (
                                <span className="muted">{m.gateway_reference ?? "—"}</span>
                              )}
                            </td>
                            <td className="money">{m.ledger_amount ? formatMoney(m.ledger_amount) : "—"}</td>
                            <td className="money">{m.gateway_amount ? formatMoney(m.gateway_amount) : "—"}</td>
                            <td>{m.what_to_do}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  )}
                </div>
              ))}
            </article>
          )}
        </div>
      )}
    </section>
  );
}
