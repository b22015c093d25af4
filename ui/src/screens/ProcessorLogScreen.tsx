// Every gateway call as sent and answered (card numbers and keys removed), searchable.
import { useCallback, useState } from "react";
import { commands, type LogEntry_Serialize } from "../bindings";
import { ApiError, call } from "../api";
import { formatDateTime, gatewayName } from "../format";
import { Loading } from "../shared/Loading";
import { useLoad } from "../hooks/useLoad";

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
