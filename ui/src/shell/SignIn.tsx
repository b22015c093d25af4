import { useEffect, useState, type FormEvent } from "react";
import { commands, type ClinicInfo, type Session } from "../bindings";
import { call, messageOf } from "../api";
import { useSubmit } from "../hooks/useSubmit";
import { focusOnMount } from "../shared/focus";

export function SignIn({
  clinic,
  lockedAs,
  onSignedIn,
}: {
  clinic: ClinicInfo;
  lockedAs: Session | null;
  onSignedIn: (s: Session) => void;
}) {
  // What was typed into the form the app drew before the scripts ran (main.tsx), taken over once.
  const [typed] = useState(() => (lockedAs ? undefined : window.__CLINICPAY_TYPED__));
  const [username, setUsername] = useState(lockedAs?.username ?? typed?.username ?? "");
  const [password, setPassword] = useState(typed?.password ?? "");
  useEffect(() => {
    delete window.__CLINICPAY_TYPED__;
  }, []);
  const { busy, error, setError, submit } = useSubmit();

  function signIn(e: FormEvent) {
    e.preventDefault();
    void submit(
      async () => {
        onSignedIn(await call(commands.signIn(username, password)));
      },
      (err) => {
        setError(messageOf(err));
        setPassword("");
      },
    );
  }

  return (
    <div className="center-screen">
      <form className="panel sign-in" onSubmit={signIn} aria-labelledby="sign-in-title">
        <p className="brand">ClinicPay</p>
        <h1 id="sign-in-title">{lockedAs ? "This desk is locked" : `Sign in to ${clinic.clinic_name}`}</h1>
        {lockedAs && (
          <p className="muted" data-testid="locked-as">
            {lockedAs.display_name} was signed in. Enter the password to carry on, or sign in as someone else.
          </p>
        )}
        <label>
          Sign-in name
          <input
            name="username"
            autoComplete="username"
            ref={!lockedAs && typed?.focused !== "password" ? focusOnMount : undefined}
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            required
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            ref={lockedAs || typed?.focused === "password" ? focusOnMount : undefined}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        {error && (
          <p className="form-error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {clinic.training_mode && (
          <p className="muted small">Demo clinic: sign in as frontdesk, manager or it with the password demo.</p>
        )}
      </form>
    </div>
  );
}
