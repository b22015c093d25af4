// The clinic's orders in recovery, each opening its patient; the billing manager's sweep above them.
import { useCallback, useState } from "react";
import { commands, type Order_Serialize, type PatientId, type Session } from "../bindings";
import { ApiError, call } from "../api";
import { formatDateTime } from "../format";
import { Loading } from "../shared/Loading";
import { MoneyCell } from "../shared/MoneyCell";
import { StatusChip } from "../shared/StatusChip";
import { may } from "../shared/permissions";
import { useLoad } from "../hooks/useLoad";
import { isMoney, useLiveReload } from "../live";
import { RecoverySweep } from "./RecoverySweep";

/** Orders drawn at once: a clinic group can have ten thousand in recovery, and a table that long made
 * every keystroke anywhere in the window wait for its style and layout. */
const PAGE = 100;

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
  const [shown, setShown] = useState(PAGE);
  // While a sweep runs, every order it pays is a change: the list is read again once it ends, not
  // ten thousand times while someone is typing.
  const [sweeping, setSweeping] = useState(false);
  useLiveReload((c) => !sweeping && isMoney(c), reload);
  if (!data) return <Loading error={error} retry={() => void reload()} />;
  const open = data.filter((o) => o.recovery_status === "NEEDS_PAYMENT_METHOD" || o.recovery_status === "RETRY_SCHEDULED");
  return (
    <section className="stack" data-testid="recovery-screen">
      <h1>Recovery</h1>
      <p className="muted">
        Subscription charges that failed. Orders that need a payment method wait for the patient to save a card for the
        clinic&apos;s gateway; ClinicPay retries them as soon as one is saved.
      </p>
      {may(session, "run_billing") && (
        <RecoverySweep onRunning={setSweeping} onFinished={() => void reload()} />
      )}
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
            {open.slice(0, shown).map((o) => (
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
      {open.length > shown && (
        <p className="muted" data-testid="recovery-more">
          Showing the first {shown.toLocaleString()} of {open.length.toLocaleString()} orders in recovery.{" "}
          <button type="button" className="link" onClick={() => setShown((n) => n + PAGE)}>
            Show {Math.min(PAGE, open.length - shown).toLocaleString()} more
          </button>
        </p>
      )}
    </section>
  );
}
