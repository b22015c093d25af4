// The billing manager's gateway report: per gateway, payments and their success rate, declines by code,
// refunds, unknown outcomes, and the recovery funnel, for a date range; as tables, charts (Chart.js) and
// CSV / PDF exports saved in the reports folder.
import { useCallback, useState, type FormEvent } from "react";
import { commands, type GatewayReport_Serialize } from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { formatMoney, gatewayName } from "../format";
import { useToast } from "../shared/Toasts";
import { useLoad } from "../hooks/useLoad";
import { useSubmit } from "../hooks/useSubmit";
import { BarChart } from "./BarChart";

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function ReportsScreen({ onError }: { onError: (e: ApiError) => void }) {
  const toast = useToast();
  const today = new Date();
  const [from, setFrom] = useState(isoDay(new Date(today.getTime() - 29 * 86_400_000)));
  const [to, setTo] = useState(isoDay(today));
  // The first range on opening; after that the range applies when Show is pressed.
  const [shown, setShown] = useState({ from, to });
  const fetchReport = useCallback(
    (): Promise<GatewayReport_Serialize> => call(commands.gatewayReport(shown.from || null, shown.to || null)),
    [shown],
  );
  const { data: report, error, setData: setReport } = useLoad(fetchReport, onError);
  const { busy: exporting, submit } = useSubmit();

  function exportAs(format: "csv" | "pdf") {
    void submit(
      async () => {
        toast.ok((await call(commands.exportGatewayReport(from || null, to || null, format))).message);
      },
      (e) => toast.error(messageOf(e)),
    );
  }

  function apply(e: FormEvent) {
    e.preventDefault();
    setReport(null);
    setShown({ from, to });
  }

  const gateways = report?.gateways ?? [];
  const labels = gateways.map((g) => `${gatewayName(g.gateway)} (${g.currency})`);
  const declineCodes = [...new Set(gateways.flatMap((g) => g.declines.map((d) => d.code ?? "no code")))];
  return (
    <section className="stack" data-testid="reports-screen">
      <h1>Gateway report</h1>
      <form className="toolbar filters" onSubmit={apply}>
        <label className="inline-label">
          From
          <input type="date" name="from" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label className="inline-label">
          To
          <input type="date" name="to" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        <button type="submit" className="primary" data-testid="apply-range">
          Show
        </button>
        <button type="button" onClick={() => exportAs("csv")} disabled={exporting || !report} data-testid="export-csv">
          Export CSV
        </button>
        <button type="button" onClick={() => exportAs("pdf")} disabled={exporting || !report} data-testid="export-pdf">
          Export PDF
        </button>
      </form>
      {error ? (
        <div className="panel notice" role="alert">
          <p>{error}</p>
        </div>
      ) : !report ? (
        <div className="skeleton" aria-busy="true" aria-label="Loading the report">
          <div className="skeleton-block" />
        </div>
      ) : gateways.length === 0 ? (
        <div className="empty-state small" data-testid="empty-report">
          <p>
            No payments or refunds from {report.from} to {report.to}. Choose a wider range.
          </p>
        </div>
      ) : (
        <>
          <table className="data-table" data-testid="report-table">
            <thead>
              <tr>
                <th scope="col">Gateway</th>
                <th scope="col" className="money">Attempts</th>
                <th scope="col" className="money">Succeeded</th>
                <th scope="col" className="money">Amount</th>
                <th scope="col" className="money">Failed</th>
                <th scope="col" className="money">Success rate</th>
                <th scope="col" className="money">Unknown</th>
                <th scope="col" className="money">Refunds</th>
                <th scope="col" className="money">Refunded</th>
              </tr>
            </thead>
            <tbody>
              {gateways.map((g) => (
                <tr key={`${g.gateway}-${g.currency}`} data-testid="report-row" data-gateway={g.gateway}>
                  <th scope="row">
                    {gatewayName(g.gateway)} <span className="muted">({g.currency})</span>
                  </th>
                  <td className="money">{g.attempts}</td>
                  <td className="money" data-testid="report-succeeded">{g.succeeded}</td>
                  <td className="money" data-testid="report-amount">{formatMoney(g.succeeded_amount)}</td>
                  <td className="money">{g.failed}</td>
                  <td className="money">{g.success_rate_percent === null ? "—" : `${g.success_rate_percent.toFixed(1)} %`}</td>
                  <td className="money">{g.unknown_waiting}</td>
                  <td className="money">{g.refunds}</td>
                  <td className="money">{formatMoney(g.refunded_amount)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="charts">
            <figure>
              <figcaption>Payments by outcome</figcaption>
              <BarChart
                testId="chart-outcomes"
                label="Succeeded, failed and unknown payments per gateway"
                labels={labels}
                series={[
                  { name: "Succeeded", values: gateways.map((g) => g.succeeded), color: "#15803d" },
                  { name: "Failed", values: gateways.map((g) => g.failed), color: "#b91c1c" },
                  { name: "Unknown", values: gateways.map((g) => g.unknown_waiting), color: "#d97706" },
                ]}
              />
            </figure>
            <figure>
              <figcaption>Declines by code</figcaption>
              <BarChart
                testId="chart-declines"
                label="Declined payments per decline code and gateway"
                labels={declineCodes}
                series={gateways.map((g, i) => ({
                  name: labels[i] ?? g.gateway,
                  values: declineCodes.map(
                    (code) => g.declines.filter((d) => (d.code ?? "no code") === code).reduce((n, d) => n + d.count, 0),
                  ),
                  color: i === 0 ? "#0f766e" : "#6d28d9",
                }))}
              />
            </figure>
          </div>
          {gateways.map((g) =>
            g.declines.length ? (
              <table className="data-table" key={`d-${g.gateway}-${g.currency}`} data-testid="declines-table">
                <caption>Declines on {gatewayName(g.gateway)}</caption>
                <thead>
                  <tr>
                    <th scope="col" className="money">Count</th>
                    <th scope="col">Code</th>
                    <th scope="col">What the gateway said</th>
                  </tr>
                </thead>
                <tbody>
                  {g.declines.map((d) => (
                    <tr key={`${d.code}-${d.message}`}>
                      <td className="money">{d.count}</td>
                      <td>{d.code ?? "—"}</td>
                      <td>{d.message ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null,
          )}
          <p data-testid="recovery-funnel">
            Recovery (began in the range): {report.recovery.needs_payment_method} need a payment method ·{" "}
            {report.recovery.retry_scheduled} retry scheduled · {report.recovery.resolved} resolved ·{" "}
            {report.recovery.failed_final} failed final.
          </p>
        </>
      )}
    </section>
  );
}
