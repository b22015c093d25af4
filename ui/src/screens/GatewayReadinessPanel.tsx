import { useState } from "react";
import { commands, type Gateway, type GatewayReadiness, type Session } from "../bindings";
import { call, messageOf } from "../api";
import { gatewayName } from "../format";
import { may } from "../shared/permissions";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

/** Before switching the active gateway: who would break, and the bulk "please re-save your card" email. */
export function GatewayReadinessPanel({ current, session }: { current: Gateway; session: Session }) {
  const toast = useToast();
  const target: Gateway = current === "nmi" ? "stripe" : "nmi";
  const [readiness, setReadiness] = useState<GatewayReadiness | null>(null);
  const { busy, submit } = useSubmit();
  const toastError = (e: unknown) => toast.error(messageOf(e));
  function check() {
    void submit(async () => {
      setReadiness(await call(commands.gatewayReadiness(target)));
    }, toastError);
  }
  function email() {
    void submit(async () => {
      const r = await call(commands.requestCardResave(target));
      toast.ok(
        `${r.sent} email${r.sent === 1 ? "" : "s"} sent${r.skipped ? `; ${r.skipped} patient${r.skipped === 1 ? "" : "s"} already emailed today or with no card to name (call them)` : ""}.`,
      );
    }, toastError);
  }
  return (
    <div className="panel stack" data-testid="gateway-readiness">
      <div className="toolbar">
        <h2 className="section-title">Before switching to {gatewayName(target)}</h2>
        <button type="button" onClick={check} disabled={busy} data-testid="check-readiness">
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
            <button type="button" className="primary" onClick={email} disabled={busy} data-testid="email-resave">
              Email them to re-save their card for {gatewayName(target)}
            </button>
          )}
        </>
      )}
    </div>
  );
}
