// The patient's payments, with Refund on the gateway that took them.
import { useState } from "react";
import type { PatientId, Payment_Serialize, Session } from "../bindings";
import { ApiError } from "../api";
import { ChargedTwice } from "../shared/ChargedTwice";
import { PaymentsTable } from "../shared/PaymentsTable";
import { may } from "../shared/permissions";
import { RefundDialog } from "./RefundDialog";

export function PaymentsTab({
  patientId,
  payments,
  session,
  onChanged,
  onError,
}: {
  patientId: PatientId;
  payments: Payment_Serialize[];
  session: Session;
  onChanged: () => void;
  onError: (e: ApiError) => void;
}) {
  const [refunding, setRefunding] = useState<Payment_Serialize | null>(null);
  const canRefund = may(session, "refund_within_limit");
  if (payments.length === 0) {
    return (
      <div className="empty-state small" data-testid="no-payments">
        <p>No payments yet.</p>
      </div>
    );
  }
  return (
    <>
      <ChargedTwice
        patientId={patientId}
        onRefund={canRefund ? setRefunding : undefined}
        onError={onError}
        reloadKey={payments}
      />
      <PaymentsTable
        payments={payments}
        action={(p) =>
          canRefund && p.status === "SUCCEEDED" ? (
            <button type="button" onClick={() => setRefunding(p)} data-testid="refund-payment">
              Refund
            </button>
          ) : null
        }
      />
      {refunding && (
        <RefundDialog
          payment={refunding}
          onClose={() => setRefunding(null)}
          onDone={() => {
            setRefunding(null);
            onChanged();
          }}
        />
      )}
    </>
  );
}
