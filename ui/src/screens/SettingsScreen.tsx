// The clinic's settings (each checked and logged when changed), the gateway-switch readiness check, and
// the billing engine (billing managers and IT), IT's panels: staff, updates, desks, diagnostics; and
// everyone's own password.
import { useCallback } from "react";
import { commands, type Gateway, type Session, type SettingsView } from "../bindings";
import { ApiError, call } from "../api";
import { Loading } from "../shared/Loading";
import { may } from "../shared/permissions";
import { useLoad } from "../hooks/useLoad";
import { useLiveReload } from "../live";
import { BillingEnginePanel } from "./BillingEnginePanel";
import { DesksPanel } from "./DesksPanel";
import { DiagnosticsPanel } from "./DiagnosticsPanel";
import { GatewayReadinessPanel } from "./GatewayReadinessPanel";
import { SettingRow } from "./SettingRow";
import { RecoveryEmailsPanel } from "./RecoveryEmailsPanel";
import { StaffPanel } from "./StaffPanel";
import { UpdatesPanel } from "./UpdatesPanel";
import { YourPasswordPanel } from "./YourPasswordPanel";

export function SettingsScreen({ session, onError }: { session: Session; onError: (e: ApiError) => void }) {
  const load = useCallback(() => call(commands.settings()), []);
  const { data, error, reload } = useLoad<SettingsView>(load, onError);
  useLiveReload((c) => c.subject_type === "setting", reload);
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
              editable={may(session, v.permission) && !v.managed}
              itOnly={v.permission === "change_security_settings"}
              onSaved={() => void reload()}
            />
          ))}
        </tbody>
      </table>
      <RecoveryEmailsPanel session={session} onError={onError} />
      <BillingEnginePanel session={session} />
      <YourPasswordPanel />
      {may(session, "manage_staff") && <StaffPanel me={session.username} onError={onError} />}
      <UpdatesPanel />
      <DesksPanel session={session} />
      {may(session, "write_diagnostics") && <DiagnosticsPanel />}
    </section>
  );
}
