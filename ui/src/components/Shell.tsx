import { useEffect, useRef, useState } from "react";
import { commands, type ClinicInfo, type PatientId, type Session } from "../bindings";
import { ApiError, call } from "../api";
import { gatewayName } from "../format";
import { PatientSearch, type PatientSearchHandle } from "./PatientSearch";
import { PatientProfileView } from "./PatientProfile";

export function Shell({
  clinic,
  session,
  onSignedOut,
  onSessionLost,
}: {
  clinic: ClinicInfo;
  session: Session;
  onSignedOut: () => void;
  onSessionLost: (e: ApiError) => void;
}) {
  const [patientId, setPatientId] = useState<PatientId | null>(null);
  const search = useRef<PatientSearchHandle>(null);

  // "/" or Ctrl+K puts the cursor in the patient search from anywhere.
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
      if ((e.key === "/" && !typing) || (e.key.toLowerCase() === "k" && (e.ctrlKey || e.metaKey))) {
        e.preventDefault();
        search.current?.focus();
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  async function signOut() {
    await call(commands.signOut()).catch(() => undefined);
    onSignedOut();
  }

  return (
    <div className="shell">
      <header className="top-bar">
        <span className="brand">ClinicPay</span>
        <PatientSearch ref={search} onOpen={setPatientId} onError={onSessionLost} />
        <span className="chip gateway-chip" data-testid="gateway-chip" title="The clinic's active payment gateway">
          Taking cards through {gatewayName(clinic.active_gateway)}
        </span>
        <span className="who" data-testid="signed-in-as">
          {session.display_name} <span className="muted">· {session.role_label}</span>
        </span>
        <button type="button" onClick={() => void signOut()} data-testid="sign-out">
          Sign out
        </button>
      </header>
      <div className="body">
        <nav className="side-nav" aria-label="Sections">
          <a href="#patients" className="active" aria-current="page">
            Patients
          </a>
        </nav>
        <main className="content" id="patients">
          {patientId === null ? (
            <div className="empty-state" data-testid="no-patient">
              <h1>Find a patient</h1>
              <p>
                Type the start of a name, an email or a phone number in the search at the top. Press <kbd>/</kbd> or{" "}
                <kbd>Ctrl</kbd>+<kbd>K</kbd> to get there from anywhere.
              </p>
            </div>
          ) : (
            <PatientProfileView key={patientId} patientId={patientId} onError={onSessionLost} />
          )}
        </main>
      </div>
    </div>
  );
}
