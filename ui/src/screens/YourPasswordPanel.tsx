// Settings → Your password: anyone changes their own, giving the current one (a wrong one counts toward
// the lock-out, as at sign-in).
import { useState, type FormEvent } from "react";
import { commands } from "../bindings";
import { call } from "../api";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

export function YourPasswordPanel() {
  const toast = useToast();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const { busy, error, setError, submit } = useSubmit();
  function save(e: FormEvent) {
    e.preventDefault();
    if (next !== again) {
      setError("The new password and its repeat differ: type the same password twice.");
      return;
    }
    void submit(async () => {
      await call(commands.changeOwnPassword(current, next));
      setCurrent("");
      setNext("");
      setAgain("");
      toast.ok("Your password is changed. Use the new one from your next sign-in.");
    });
  }
  return (
    <section className="panel" aria-labelledby="your-password-title" data-testid="your-password-panel">
      <h2 id="your-password-title">Your password</h2>
      <form className="stack narrow" onSubmit={save}>
        <label>
          Current password
          <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} data-testid="current-password" />
        </label>
        <label>
          New password (at least 12 characters)
          <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} data-testid="new-password" />
        </label>
        <label>
          New password again
          <input type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} data-testid="new-password-again" />
        </label>
        {error && <p className="form-error" data-testid="password-error">{error}</p>}
        <button type="submit" disabled={busy || current === "" || next === ""} data-testid="change-password">
          Change password
        </button>
      </form>
    </section>
  );
}
