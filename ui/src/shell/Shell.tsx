import { useCallback, useEffect, useRef, useState } from "react";
import { commands, type ClinicInfo, type PatientId, type Permission, type Session } from "../bindings";
import { ApiError, call } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { may } from "../shared/permissions";
import { useDatabaseConnected } from "../live";
import { PatientProfileView } from "../patient/PatientProfile";
import { ExpiringCardsScreen } from "../screens/ExpiringCardsScreen";
import { PaymentsScreen } from "../screens/PaymentsScreen";
import { ProcessorLogScreen } from "../screens/ProcessorLogScreen";
import { ReconciliationScreen } from "../screens/ReconciliationScreen";
import { RecoveryScreen } from "../screens/RecoveryScreen";
import { ReportsScreen } from "../screens/ReportsScreen";
import { SettingsScreen } from "../screens/SettingsScreen";
import { PatientSearch, type PatientSearchHandle } from "./PatientSearch";
import { ReconciliationChip } from "./ReconciliationChip";
import { EngineWarningChip } from "../screens/BillingEnginePanel";
import { UpdatePrompt } from "./UpdatePrompt";

type Section =
  | "patients"
  | "payments"
  | "failed"
  | "recovery"
  | "expiring"
  | "reports"
  | "reconciliation"
  | "log"
  | "settings";

const SECTIONS: [Section, string, Permission][] = [
  ["patients", "Patients", "view_patients"],
  ["payments", "Payments", "view_patients"],
  ["failed", "Failed payments", "view_patients"],
  ["recovery", "Recovery", "view_patients"],
  ["expiring", "Expiring cards", "view_patients"],
  ["reports", "Reports", "view_reports"],
  ["reconciliation", "Reconciliation", "view_reports"],
  ["log", "Processor log", "view_activity"],
  ["settings", "Settings", "view_patients"],
];

export function Shell({
  clinic,
  session,
  onSignedOut,
  onLock,
  onSessionLost,
}: {
  clinic: ClinicInfo;
  session: Session;
  onSignedOut: () => void;
  onLock: () => void;
  onSessionLost: (e: ApiError) => void;
}) {
  const [section, setSection] = useState<Section>("patients");
  const [patientId, setPatientId] = useState<PatientId | null>(null);
  // Opening a patient again (from the search) reads them afresh.
  const [visit, setVisit] = useState(0);
  const search = useRef<PatientSearchHandle>(null);
  const [shortcuts, setShortcuts] = useState(false);
  const connected = useDatabaseConnected();

  // "/" or Ctrl+K puts the cursor in the patient search from anywhere.
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      const typing =
        e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement;
      if ((e.key === "/" && !typing) || (e.key.toLowerCase() === "k" && (e.ctrlKey || e.metaKey))) {
        e.preventDefault();
        search.current?.focus();
      } else if (e.key === "?" && !typing) {
        e.preventDefault();
        setShortcuts(true);
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  // Lock after the configured idle minutes: any key, click or pointer movement counts as activity.
  // The services enforce the lock too, so they are told a person is here (at most every 20 seconds),
  // whatever the minutes were when the window opened; a session they already ended locks the window.
  useEffect(() => {
    const minutes = clinic.desk_lock_minutes;
    let timer = minutes ? window.setTimeout(onLock, minutes * 60_000) : 0;
    let told = 0;
    const reset = () => {
      if (minutes) {
        window.clearTimeout(timer);
        timer = window.setTimeout(onLock, minutes * 60_000);
      }
      const now = Date.now();
      if (now - told > 20_000) {
        told = now;
        void commands
          .deskActivity()
          .then((r) => {
            if (r.status === "error" && r.error.code === "not_signed_in") onLock();
          })
          .catch(() => undefined);
      }
    };
    const events = ["keydown", "mousedown", "mousemove", "wheel", "touchstart"] as const;
    events.forEach((e) => window.addEventListener(e, reset, { passive: true }));
    return () => {
      window.clearTimeout(timer);
      events.forEach((e) => window.removeEventListener(e, reset));
    };
  }, [clinic.desk_lock_minutes, onLock]);

  const openPatient = useCallback((id: PatientId) => {
    setSection("patients");
    setPatientId(id);
    setVisit((v) => v + 1);
  }, []);

  async function signOut() {
    await call(commands.signOut()).catch(() => undefined);
    onSignedOut();
  }

  return (
    <div className="shell">
      <header className="top-bar">
        <span className="brand">ClinicPay</span>
        <PatientSearch ref={search} onOpen={openPatient} onError={onSessionLost} />
        <span className="chip gateway-chip" data-testid="gateway-chip" title="The clinic's active payment gateway">
          Taking cards through {gatewayName(clinic.active_gateway)}
        </span>
        <ReconciliationChip onOpen={() => setSection("reconciliation")} onError={onSessionLost} />
        <EngineWarningChip session={session} onOpen={() => setSection("settings")} />
        <span className="who" data-testid="signed-in-as">
          {session.display_name} <span className="muted">· {session.role_label}</span>
        </span>
        <button type="button" onClick={onLock} data-testid="switch-user" title="Lock the desk so someone else can sign in">
          Lock / switch
        </button>
        <button type="button" onClick={() => void signOut()} data-testid="sign-out">
          Sign out
        </button>
      </header>
      <UpdatePrompt />
      {!connected && (
        <div className="connection-lost" role="alert" data-testid="connection-lost">
          The connection to the clinic&apos;s database is lost. ClinicPay is reconnecting by itself; until it is back,
          nothing can be charged, refunded or changed here, and nothing is kept to be charged later.
        </div>
      )}
      {shortcuts && (
        <Dialog title="Keyboard shortcuts" onClose={() => setShortcuts(false)} testId="shortcuts">
          <dl className="shortcuts">
            <dt>
              <kbd>/</kbd> or <kbd>Ctrl</kbd>+<kbd>K</kbd>
            </dt>
            <dd>Search patients from anywhere</dd>
            <dt>
              <kbd>↑</kbd> <kbd>↓</kbd> then <kbd>Enter</kbd>
            </dt>
            <dd>Pick a patient in the results and open them</dd>
            <dt>
              <kbd>Tab</kbd>
            </dt>
            <dd>Move to the next button or field</dd>
            <dt>
              <kbd>Enter</kbd>
            </dt>
            <dd>Submit the form you are in</dd>
            <dt>
              <kbd>Esc</kbd>
            </dt>
            <dd>Close a dialog, a menu or the search results</dd>
            <dt>
              <kbd>?</kbd>
            </dt>
            <dd>Show this list</dd>
          </dl>
        </Dialog>
      )}
      <div className="body">
        <nav className="side-nav" aria-label="Sections">
          {SECTIONS.filter(([, , p]) => may(session, p)).map(([id, label]) => (
            <a
              key={id}
              href={`#${id}`}
              className={section === id ? "active" : undefined}
              aria-current={section === id ? "page" : undefined}
              onClick={(e) => {
                e.preventDefault();
                setSection(id);
              }}
              data-testid={`nav-${id}`}
            >
              {label}
            </a>
          ))}
        </nav>
        {/* While the database is away nothing here can be used: no payment may be started on stale data. */}
        <main className="content" id={section} inert={connected ? undefined : true}>
          {section === "patients" &&
            (patientId === null ? (
              <div className="empty-state" data-testid="no-patient">
                <h1>Find a patient</h1>
                <p>
                  Type the start of a name, an email or a phone number in the search at the top. Press <kbd>/</kbd> or{" "}
                  <kbd>Ctrl</kbd>+<kbd>K</kbd> to get there from anywhere.
                </p>
              </div>
            ) : (
              <PatientProfileView
                key={`${patientId}-${visit}`}
                patientId={patientId}
                clinic={clinic}
                session={session}
                onError={onSessionLost}
              />
            ))}
          {section === "payments" && (
            <PaymentsScreen failedOnly={false} onOpenPatient={openPatient} onError={onSessionLost} />
          )}
          {section === "failed" && <PaymentsScreen failedOnly onOpenPatient={openPatient} onError={onSessionLost} />}
          {section === "recovery" && (
            <RecoveryScreen session={session} onOpenPatient={openPatient} onError={onSessionLost} />
          )}
          {section === "expiring" && (
            <ExpiringCardsScreen session={session} clinic={clinic} onOpenPatient={openPatient} onError={onSessionLost} />
          )}
          {section === "reports" && <ReportsScreen onError={onSessionLost} />}
          {section === "reconciliation" && <ReconciliationScreen training={clinic.training_mode} onOpenPatient={openPatient} onError={onSessionLost} />}
          {section === "log" && <ProcessorLogScreen onError={onSessionLost} />}
          {section === "settings" && <SettingsScreen session={session} onError={onSessionLost} />}
        </main>
      </div>
    </div>
  );
}
