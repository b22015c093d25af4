// An invoice charged twice (a gateway's late answer after the invoice was paid again): both payments side
// by side, and a refund of the duplicate one click away. Shown on the patient's Payments tab and on the
// Failed payments screen until the duplicate is refunded.
import { useCallback } from "react";
import { commands, type PatientId, type Payment_Serialize } from "../bindings";
import { ApiError, call } from "../api";
import { formatDateTime, formatMoney, gatewayName } from "../format";
import { useLoad } from "../hooks/useLoad";
import { isMoney, useLiveReload } from "../live";

export function ChargedTwice({
  patientId,
  onRefund,
  onOpenPatient,
  onError,
  reloadKey,
}: {
  /** One patient's, or the clinic's when null. */
  patientId: PatientId | null;
  onRefund?: ((p: Payment_Serialize) => void) | undefined;
  onOpenPatient?: (id: PatientId) => void;
  onError: (e: ApiError) => void;
  /** Changes when the payments shown beside it change (a refund just made). */
  reloadKey?: unknown;
}) {
  const load = useCallback(
    () => call(commands.chargedTwice(patientId)),
    [patientId, reloadKey],
  );
  const { data, reload } = useLoad<Payment_Serialize[]>(load, onError);
  useLiveReload(isMoney, reload);
  if (!data || data.length === 0) return null;
  return (
    <div className="warning stack" role="alert" data-testid="charged-twice">
      <strong>Charged twice: refund the duplicate and tell the patient.</strong>
      {data.map((p) => (
        <p key={p.id} data-testid="charged-twice-row" data-payment={p.id}>
          Invoice #{p.invoice_id ?? "?"}: payment #{p.duplicate_of ?? "?"} paid it, and {gatewayName(p.gateway)}&apos;s late
          answer shows payment #{p.id} ({formatMoney(p.amount)}, {formatDateTime(p.created_at)}) taken as well.{" "}
          {onRefund && (
            <button type="button" onClick={() => onRefund(p)} data-testid="refund-duplicate">
              Refund #{p.id}
            </button>
          )}
          {onOpenPatient && (
            <button type="button" className="link" onClick={() => onOpenPatient(p.patient_id)}>
              Open patient #{p.patient_id}
            </button>
          )}
        </p>
      ))}
    </div>
  );
}
