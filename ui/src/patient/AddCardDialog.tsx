// Add payment method: the active gateway's own hosted card fields (Stripe Elements or NMI Collect.js,
// or the built-in simulator's stand-ins in training mode). The card number is typed into the gateway's
// frames and never reaches this page or ClinicPay: the page only receives a token.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { commands, type CardChange_Serialize, type CardForm, type PatientId } from "../bindings";
import { call, messageOf } from "../api";
import { gatewayName } from "../format";
import { Dialog } from "../shared/Dialog";
import { useSubmit } from "../hooks/useSubmit";

type StripeCardElement = {
  mount: (selector: string | HTMLElement) => void;
  on: (event: "change", cb: (e: { complete: boolean; error?: { message: string } }) => void) => void;
  destroy: () => void;
};
type StripeInstance = {
  elements: () => { create: (type: "card") => StripeCardElement };
  createPaymentMethod: (params: {
    type: "card";
    card: StripeCardElement;
    billing_details: { name?: string; address?: { country?: string } };
  }) => Promise<{ paymentMethod?: { id: string }; error?: { message: string; code?: string } }>;
};
type CollectResponse = { token: string; card: { number: string; type: string } };
type CollectJs = {
  configure: (config: {
    variant: "inline";
    fields: Record<"ccnumber" | "ccexp" | "cvv", { selector: string; title?: string }>;
    callback: (r: CollectResponse) => void;
    validationCallback?: (field: string, valid: boolean, message: string) => void;
    timeoutCallback?: () => void;
  }) => void;
  startPaymentRequest: () => void;
};

declare global {
  interface Window {
    Stripe?: (key: string) => StripeInstance;
    CollectJS?: CollectJs;
  }
}

const loaded = new Map<string, Promise<void>>();

/** Loads a gateway script once per address. */
function loadScript(src: string, attrs: Record<string, string>): Promise<void> {
  const key = `${src} ${JSON.stringify(attrs)}`;
  let p = loaded.get(key);
  if (!p) {
    p = new Promise<void>((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      for (const [k, v] of Object.entries(attrs)) s.setAttribute(k, v);
      s.onload = () => resolve();
      s.onerror = () => {
        loaded.delete(key);
        reject(new Error("script"));
      };
      document.head.appendChild(s);
    });
    loaded.set(key, p);
  }
  return p;
}

const COUNTRIES: [string, string][] = [
  ["US", "United States"],
  ["CA", "Canada"],
  ["GB", "United Kingdom"],
  ["AU", "Australia"],
  ["NZ", "New Zealand"],
  ["IE", "Ireland"],
  ["MX", "Mexico"],
];

export function AddCardDialog({
  patientId,
  patientName,
  onClose,
  onSaved,
}: {
  patientId: PatientId;
  patientName: string;
  onClose: () => void;
  onSaved: (c: CardChange_Serialize) => void;
}) {
  const [form, setForm] = useState<CardForm | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [name, setName] = useState(patientName);
  const [country, setCountry] = useState("US");
  const [nickname, setNickname] = useState("");
  const { busy, error, setError, submit } = useSubmit();
  const [ready, setReady] = useState(false);
  const stripe = useRef<{ instance: StripeInstance; card: StripeCardElement } | null>(null);
  const collectToken = useRef<((r: CollectResponse | Error) => void) | null>(null);

  // First which gateway and script; the fields are mounted once their placeholders are on screen.
  useEffect(() => {
    let cancelled = false;
    call(commands.cardForm()).then(
      (f) => !cancelled && setForm(f),
      (e) => !cancelled && setLoadError(messageOf(e)),
    );
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => {
    if (!form) return;
    let cancelled = false;
    void (async () => {
      try {
        if (form.gateway === "stripe") {
          await loadScript(form.script_url, {});
          if (cancelled || !window.Stripe) return;
          const instance = window.Stripe(form.public_key);
          const card = instance.elements().create("card");
          card.mount("#card-element");
          card.on("change", (e) => setError(e.error ? e.error.message : null));
          stripe.current = { instance, card };
        } else {
          await loadScript(form.script_url, { "data-tokenization-key": form.public_key });
          if (cancelled || !window.CollectJS) return;
          window.CollectJS.configure({
            variant: "inline",
            fields: {
              ccnumber: { selector: "#ccnumber", title: "Card number" },
              ccexp: { selector: "#ccexp", title: "Expiry date" },
              cvv: { selector: "#cvv", title: "Security code" },
            },
            callback: (r) => collectToken.current?.(r),
            validationCallback: (_field, valid, message) => {
              if (!valid && message && collectToken.current) collectToken.current(new Error(message));
            },
            timeoutCallback: () => collectToken.current?.(new Error("NMI did not answer in time. Try again.")),
          });
        }
        setReady(true);
      } catch {
        if (!cancelled)
          setLoadError(
            "The card form could not be loaded from the gateway. Check the internet connection and try again; if it keeps failing, ask IT.",
          );
      }
    })();
    return () => {
      cancelled = true;
      stripe.current?.card.destroy();
      stripe.current = null;
    };
  }, [form]);

  /** The gateway's token for what was typed in its fields. */
  async function tokenize(f: CardForm): Promise<string> {
    if (f.gateway === "stripe") {
      const s = stripe.current;
      if (!s) throw new Error("The card form is still loading.");
      const result = await s.instance.createPaymentMethod({
        type: "card",
        card: s.card,
        billing_details: { name, address: { country } },
      });
      if (result.error || !result.paymentMethod) throw new Error(result.error?.message ?? "Stripe refused the card.");
      return result.paymentMethod.id;
    }
    const collect = window.CollectJS;
    if (!collect) throw new Error("The card form is still loading.");
    return new Promise<string>((resolve, reject) => {
      collectToken.current = (r) => {
        collectToken.current = null;
        if (r instanceof Error) reject(r);
        else resolve(r.token);
      };
      collect.startPaymentRequest();
    });
  }

  function save(e: FormEvent) {
    e.preventDefault();
    if (!form) return;
    void submit(
      async () => {
        const token = await tokenize(form);
        const saved = await call(
          commands.addCard(patientId, {
            gateway: form.gateway,
            token,
            cardholder_name: name.trim() || null,
            country: form.gateway === "stripe" ? country : null,
            nickname: nickname.trim() || null,
          }),
        );
        onSaved(saved);
      },
      // The gateway's own words for a refused card; the backend's sentence for anything else.
      (err) => setError(err instanceof Error && !("code" in err) ? err.message : messageOf(err)),
    );
  }

  return (
    <Dialog title="Add payment method" onClose={onClose} busy={busy} testId="add-card-dialog">
      {loadError ? (
        <p className="form-error" role="alert" data-testid="card-form-error">
          {loadError}
        </p>
      ) : (
        <form className="stack" onSubmit={save}>
          <p className="muted small">
            {form
              ? `The card is saved with ${gatewayName(form.gateway)}, the clinic's active gateway. The number goes straight to ${gatewayName(form.gateway)}; ClinicPay keeps only the brand, last four and expiry.`
              : "Loading the card form…"}
            {form?.training &&
              ` Training mode: use a test card such as ${form.gateway === "stripe" ? "4242 4242 4242 4242" : "4111 1111 1111 1111"}.`}
          </p>
          <label>
            Cardholder name
            <input name="cardholder" value={name} onChange={(e) => setName(e.target.value)} autoComplete="cc-name" />
          </label>
          {form?.gateway === "stripe" || form === null ? (
            <div className="field">
              <span id="card-label">Card</span>
              <div id="card-element" className="hosted-field" aria-labelledby="card-label" data-testid="card-element" />
            </div>
          ) : (
            <div className="field-row">
              <div className="field wide">
                <span>Card number</span>
                <div id="ccnumber" className="hosted-field" data-testid="collect-ccnumber" />
              </div>
              <div className="field">
                <span>Expiry</span>
                <div id="ccexp" className="hosted-field" data-testid="collect-ccexp" />
              </div>
              <div className="field">
                <span>CVV</span>
                <div id="cvv" className="hosted-field" data-testid="collect-cvv" />
              </div>
            </div>
          )}
          {form?.gateway === "stripe" && (
            <label>
              Country
              <select name="country" value={country} onChange={(e) => setCountry(e.target.value)}>
                {COUNTRIES.map(([code, label]) => (
                  <option key={code} value={code}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
          )}
          <label>
            <span>
              Nickname <span className="muted">(optional)</span>
            </span>
            <input
              name="nickname"
              value={nickname}
              maxLength={40}
              placeholder="e.g. Work card"
              onChange={(e) => setNickname(e.target.value)}
            />
          </label>
          {error && (
            <p className="form-error" role="alert" data-testid="add-card-error">
              {error}
            </p>
          )}
          <div className="actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={!ready || busy} data-testid="save-card">
              {busy ? "Saving…" : "Save card"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
