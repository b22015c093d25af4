import { useEffect, useState, type FormEvent } from "react";
import { commands } from "../bindings";
import { call } from "../api";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

const SETTING_HELP: Record<string, string> = {
  "clinic-name": "Shown on the sign-in screen and in reports.",
  gateway: "Where new cards and payments go: stripe or nmi.",
  "fallback-gateway": "Used for a manual retry when the patient has no card for the active gateway (or none).",
  currency: "The clinic's currency, e.g. USD.",
  "refunds.front-desk-limit": "Front desk may refund up to this amount; above it a billing manager must.",
  "stripe.publishable-key": "Stripe's publishable key (pk_…) for the card form. Secret keys go in the keychain.",
  "nmi.tokenization-key": "NMI's Collect.js tokenization key for the card form.",
  "desk.lock-after-minutes": "The desk locks after this many idle minutes (0: never).",
  "stripe.api-base": "Where the Stripe secret key is sent (https://…); empty means Stripe itself. Changing it makes every desk ask for the key again.",
  "nmi.api-base": "Where the NMI security key is sent (https://…); empty means NMI itself. Changing it makes every desk ask for the key again.",
  "recovery.retry-days": "Days after a failed subscription charge on which it is retried, e.g. 2,5.",
  "recovery.max-attempts": "At most this many automatic retries.",
  "recovery.suspend-day": "From this day after the failure the subscription is suspended.",
  "recovery.final-day":
    "From this day recovery ends unpaid (the patient gets the final notice when recovery emails are on).",
  "recovery.emails":
    "Email the patient when a payment fails, a warning on day 4, a request to update the card, and the final notice (true or false). The words are under Payment recovery emails.",
  "recovery.promote-successful-card": "Make a card the default when it pays a recovery charge (true or false).",
  "recovery.pause-on-first-failure":
    "Pause the subscription at its first failed charge (true), or let service continue through the grace period until the suspension day (false).",
  "reminders.enabled": "Email patients before their cards expire (true or false).",
  "reminders.thresholds": "Days before expiry on which reminders go out, e.g. 60,30,7,0.",
  "updates.endpoint": "The clinic's update server (https://…); desks read CHANNEL/latest.json from it.",
  "updates.channel": "stable for most desks; pilot for the desks that try releases first.",
};

/** One setting: its name and help, and its value (editable with Save, or read-only when managed by IT). */
export function SettingRow({
  name,
  value,
  managed,
  editable,
  itOnly,
  onSaved,
}: {
  name: string;
  value: string;
  managed: boolean;
  editable: boolean;
  itOnly: boolean;
  onSaved: () => void;
}) {
  const toast = useToast();
  const [draft, setDraft] = useState(value);
  const { busy, error, submit } = useSubmit();
  useEffect(() => setDraft(value), [value]);
  function save(e: FormEvent) {
    e.preventDefault();
    if (draft === value) return;
    void submit(async () => {
      toast.ok((await call(commands.setSetting(name, draft))).message);
      onSaved();
    });
  }
  const id = `setting-${name.replaceAll(".", "-")}`;
  return (
    <tr data-testid="setting-row" data-key={name}>
      <th scope="row">
        <label htmlFor={id}>{name}</label>
        {SETTING_HELP[name] && <p className="muted small">{SETTING_HELP[name]}</p>}
      </th>
      <td>
        {editable ? (
          <form className="inline-form" onSubmit={save}>
            <input id={id} value={draft} onChange={(e) => setDraft(e.target.value)} />
            <button type="submit" disabled={busy || draft === value}>
              Save
            </button>
            {error && (
              <p className="form-error" role="alert">
                {error}
              </p>
            )}
          </form>
        ) : (
          <span id={id}>
            {value || <span className="muted">not set</span>}
            {managed && (
              <span className="chip" data-testid="managed-chip" title="Set in this computer's managed configuration">
                {" "}
                Set by IT
              </span>
            )}
            {!managed && itOnly && (
              <span className="chip" data-testid="it-only-chip" title="Where secrets, emails and updates go: IT changes it">
                {" "}
                IT only
              </span>
            )}
          </span>
        )}
      </td>
    </tr>
  );
}
