// The clinic's newest payments, or its failed ones (with a search), each opening its patient.
import { useCallback, useState } from "react";
import { commands, type PatientId, type Payment_Serialize } from "../bindings";
import { ApiError, call } from "../api";
import { Loading } from "../shared/Loading";
import { ChargedTwice } from "../shared/ChargedTwice";
import { PaymentsTable } from "../shared/PaymentsTable";
import { useLoad } from "../hooks/useLoad";
import { isMoney, useLiveReload } from "../live";

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
  useLiveReload(isMoney, reload);
  const title = failedOnly ? "Failed payments" : "Payments";
  return (
    <section className="stack" data-testid={failedOnly ? "failed-payments-screen" : "payments-screen"}>
      <h1>{title}</h1>
      <p className="muted">
        {failedOnly
          ? "The newest declined or failed charges, with the gateway's own words. Open the patient to see what to check."
          : "The clinic's newest payments on both gateways."}
      </p>
      {failedOnly && <ChargedTwice patientId={null} onOpenPatient={onOpenPatient} onError={onError} />}
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
