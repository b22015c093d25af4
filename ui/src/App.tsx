import { lazy, Suspense, useCallback, useEffect, useState } from "react";
import { commands, type ClinicInfo, type Session } from "./bindings";
import { ApiError, call, messageOf } from "./api";
import { SignIn } from "./shell/SignIn";
import { TrainingBanner } from "./shell/TrainingBanner";
import { ToastProvider } from "./shared/Toasts";

// Everything behind sign-in (the screens, the charts) is its own chunk: the window shows the sign-in form
// without parsing it, and fetches it while the person types (docs/performance.md, cold start).
const loadShell = () => import("./shell/Shell");
const Shell = lazy(() => loadShell().then((m) => ({ default: m.Shell })));
// Seen once per desk: its own chunk too.
const FirstRun = lazy(() => import("./setup/FirstRun").then((m) => ({ default: m.FirstRun })));

function sameClinic(a: ClinicInfo, b: ClinicInfo): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

type Boot =
  | { state: "loading" }
  | { state: "failed"; message: string }
  | { state: "ready"; clinic: ClinicInfo; session: Session | null; lockedAs: Session | null };

declare global {
  interface Window {
    /** What the app knew of the clinic when it opened the window (src-tauri's boot script), so the first
     * render is the sign-in form rather than a wait for two calls (docs/performance.md, cold start). */
    __CLINICPAY_BOOT__?: ClinicInfo;
  }
}

function initialBoot(): Boot {
  const clinic = window.__CLINICPAY_BOOT__;
  return clinic ? { state: "ready", clinic, session: null, lockedAs: null } : { state: "loading" };
}

export function App() {
  const [boot, setBoot] = useState<Boot>(initialBoot);

  const load = useCallback(async () => {
    try {
      const clinic = await call(commands.clinicInfo());
      const session = await call(commands.currentSession());
      // Still asked when the window started with the boot facts: a reloaded window may already have a
      // session, and the clinic's settings may have changed since the app opened.
      setBoot((b) =>
        b.state === "ready" && !session && sameClinic(b.clinic, clinic)
          ? b
          : { state: "ready", clinic, session, lockedAs: b.state === "ready" ? b.lockedAs : null },
      );
    } catch (e) {
      setBoot({ state: "failed", message: messageOf(e) });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // The desk's screens are fetched once someone starts signing in (the first key or click), not while
  // the window sits at the sign-in form: an idle desk keeps only the form's scripts in memory.
  useEffect(() => {
    if (boot.state !== "ready") return;
    const fetchShell = () => void loadShell();
    const once = { once: true, capture: true } as const;
    window.addEventListener("keydown", fetchShell, once);
    window.addEventListener("pointerdown", fetchShell, once);
    return () => {
      window.removeEventListener("keydown", fetchShell, once);
      window.removeEventListener("pointerdown", fetchShell, once);
    };
  }, [boot.state]);

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
      <Suspense fallback={<div className="center-screen" aria-busy="true" />}>
        <FirstRun onReady={(c) => setBoot({ state: "ready", clinic: c, session: null, lockedAs: null })} />
      </Suspense>
    );
  }
  return (
    <ToastProvider>
      <div className="app">
        {clinic.training_mode && <TrainingBanner />}
        {session ? (
          <Suspense fallback={<div className="center-screen" aria-busy="true" />}>
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
          </Suspense>
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
