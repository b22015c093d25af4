import { useCallback, useEffect, useState } from "react";
import { commands, type ClinicInfo, type Session } from "./bindings";
import { ApiError, call, messageOf } from "./api";
import { SignIn } from "./components/SignIn";
import { Shell } from "./components/Shell";
import { TrainingBanner } from "./components/TrainingBanner";
import { ToastProvider } from "./ui";

type Boot =
  | { state: "loading" }
  | { state: "failed"; message: string }
  | { state: "ready"; clinic: ClinicInfo; session: Session | null; lockedAs: Session | null };

export function App() {
  const [boot, setBoot] = useState<Boot>({ state: "loading" });

  const load = useCallback(async () => {
    try {
      const clinic = await call(commands.clinicInfo());
      const session = await call(commands.currentSession());
      setBoot({ state: "ready", clinic, session, lockedAs: null });
    } catch (e) {
      setBoot({ state: "failed", message: messageOf(e) });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const signedOut = useCallback(() => {
    setBoot((b) => (b.state === "ready" ? { ...b, session: null, lockedAs: null } : b));
  }, []);

  // Locking ends the session in the backend too; the lock screen names who was there.
  const lock = useCallback(() => {
    void call(commands.lockDesk()).catch(() => undefined);
    setBoot((b) => (b.state === "ready" && b.session ? { ...b, session: null, lockedAs: b.session } : b));
  }, []);

  if (boot.state === "loading") {
    return (
      <div className="center-screen" aria-busy="true">
        <p className="muted">Opening ClinicPay…</p>
      </div>
    );
  }
  if (boot.state === "failed") {
    return (
      <div className="center-screen">
        <div className="panel notice" role="alert" data-testid="startup-error">
          <h1>ClinicPay cannot start</h1>
          <p>{boot.message}</p>
          <button type="button" onClick={() => void load()}>
            Try again
          </button>
        </div>
      </div>
    );
  }
  const { clinic, session, lockedAs } = boot;
  if (!clinic.configured) {
    return (
      <div className="center-screen">
        <div className="panel notice" role="alert" data-testid="not-configured">
          <h1>No clinic is set up in this database yet</h1>
          <p>Ask IT to set up ClinicPay for this desk. For training, they can create the demo clinic.</p>
        </div>
      </div>
    );
  }
  return (
    <ToastProvider>
      <div className="app">
        {clinic.training_mode && <TrainingBanner />}
        {session ? (
          <Shell
            key={session.username}
            clinic={clinic}
            session={session}
            onSignedOut={signedOut}
            onLock={lock}
            onSessionLost={(e: ApiError) => {
              if (e.code === "not_signed_in") signedOut();
            }}
          />
        ) : (
          <SignIn
            clinic={clinic}
            lockedAs={lockedAs}
            onSignedIn={(s) => setBoot({ state: "ready", clinic, session: s, lockedAs: null })}
          />
        )}
      </div>
    </ToastProvider>
  );
}
