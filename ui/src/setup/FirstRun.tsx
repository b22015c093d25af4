// The first-run screen of a database with no clinic: set this clinic up (a short guided setup, resumed
// where it was if the window closed), or open the demo clinic for training. Each step is checked by the
// services with its own sentence; the clinic is made only by the last step.
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { commands, type ClinicInfo, type Gateway, type SetupDatabase, type SetupDraft } from "../bindings";
import { ApiError, call } from "../api";
import { gatewayName } from "../format";
import { useSubmit } from "../hooks/useSubmit";
import { focusOnMount } from "../shared/focus";

const STEPS = ["database", "clinic", "account", "gateway", "fallback", "mail", "review"] as const;
type Step = (typeof STEPS)[number];
const STEP_TITLES: Record<Step, string> = {
  database: "Where the clinic's data lives",
  clinic: "The clinic",
  account: "The first IT account",
  gateway: "The payment gateway",
  fallback: "A fallback gateway (optional)",
  mail: "The mail server for reminders (optional)",
  review: "Check and set up",
};
const CURRENCIES = ["USD", "CAD", "EUR", "GBP", "AUD", "NZD", "JPY"];

function other(g: Gateway): Gateway {
  return g === "stripe" ? "nmi" : "stripe";
}

/** A step's own check in the window, said like the services' refusals. */
function refuse(message: string): never {
  throw new ApiError({ code: "invalid_input", message });
}

function isStep(s: string): s is Step {
  return (STEPS as readonly string[]).includes(s);
}

export function FirstRun({ onReady }: { onReady: (clinic: ClinicInfo) => void }) {
  const [draft, setDraft] = useState<SetupDraft | null>(null);
  const [started, setStarted] = useState(false);
  const { busy, error, submit } = useSubmit();

  useEffect(() => {
    call(commands.setupDraft())
      .then(setDraft)
      .catch(() => setDraft(null));
  }, []);

  const resumable = !!draft && isStep(draft.step);

  if (started && draft) {
    return <SetupSteps initial={draft} onReady={onReady} />;
  }
  return (
    <div className="center-screen">
      <section className="panel notice stack" aria-labelledby="first-run-title" data-testid="first-run">
        <p className="brand">ClinicPay</p>
        <h1 id="first-run-title">No clinic is set up here yet</h1>
        <p>
          Set up your clinic to take and save patients&apos; cards through your payment gateway, or open the demo clinic
          to practise with made-up patients: no real money moves there.
        </p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button
            type="button"
            disabled={busy}
            data-testid="open-demo"
            onClick={() => void submit(async () => onReady(await call(commands.openDemoClinic())))}
          >
            Open the demo clinic (training)
          </button>
          <button
            type="button"
            className="primary"
            disabled={busy || !draft}
            data-testid="setup-start"
            onClick={() => setStarted(true)}
          >
            {resumable ? "Continue setting up this clinic" : "Set up this clinic"}
          </button>
        </div>
      </section>
    </div>
  );
}

function SetupSteps({ initial, onReady }: { initial: SetupDraft; onReady: (clinic: ClinicInfo) => void }) {
  const [draft, setDraft] = useState<SetupDraft>({
    ...initial,
    step: isStep(initial.step) ? initial.step : "database",
    currency: initial.currency || "USD",
    gateway: initial.gateway ?? "stripe",
  });
  // The password lives only here: never written to the draft, typed again after a restart.
  const [password, setPassword] = useState("");
  const [repeat, setRepeat] = useState("");
  // Why the database step cannot go on yet (the clinic's PostgreSQL chosen, not connected).
  const [dbBlock, setDbBlock] = useState<string | null>(null);
  const { busy, error, setError, submit } = useSubmit();
  const step = draft.step as Step;
  const at = STEPS.indexOf(step);
  // A check that now passes answers the step's last refusal: it goes.
  const passed = `${draft.checked.join()}|${String(draft.smtp_tested)}`;
  useEffect(() => setError(null), [passed, setError]);

  function update(change: Partial<SetupDraft>) {
    setDraft((d) => ({ ...d, ...change }));
  }

  async function go(to: Step, d: SetupDraft = draft) {
    const next = { ...d, step: to };
    await call(commands.keepSetupDraft(next));
    setDraft(next);
  }

  function next(e: FormEvent) {
    e.preventDefault();
    void submit(async () => {
      if (step === "database" && dbBlock) refuse(dbBlock);
      if (step === "account") {
        if (password !== repeat) refuse("The two passwords differ: type the same password twice.");
        await call(commands.checkSetupAccount(draft, password));
      }
      if (step === "gateway" && !draft.checked.includes(draft.gateway ?? "stripe")) {
        refuse(`Check ${gatewayName(draft.gateway ?? "stripe")} first: it must answer before the clinic uses it.`);
      }
      if (step === "fallback" && draft.fallback_gateway && !draft.checked.includes(draft.fallback_gateway)) {
        refuse(`Check ${gatewayName(draft.fallback_gateway)} first, or choose no fallback.`);
      }
      if (step === "mail" && draft.smtp_host.trim() && !draft.smtp_tested) {
        refuse("Send the test email first, or leave the mail server empty.");
      }
      const to = STEPS[at + 1];
      if (to) await go(to);
    });
  }

  function finish(e: FormEvent) {
    e.preventDefault();
    void submit(async () => {
      if (password !== repeat) refuse("The two passwords differ: type the IT account's password twice.");
      onReady(await call(commands.finishSetup(draft, password)));
    });
  }

  return (
    <div className="center-screen">
      <form
        className="panel setup stack"
        onSubmit={step === "review" ? finish : next}
        aria-labelledby="setup-title"
        data-testid={`setup-${step}`}
      >
        <p className="muted">
          Setting up ClinicPay · step {at + 1} of {STEPS.length}
        </p>
        <h1 id="setup-title">{STEP_TITLES[step]}</h1>
        {step === "database" && <DatabaseStep setBlock={setDbBlock} onJoined={onReady} />}
        {step === "clinic" && <ClinicStep draft={draft} update={update} />}
        {step === "account" && (
          <AccountStep
            draft={draft}
            update={update}
            password={password}
            setPassword={setPassword}
            repeat={repeat}
            setRepeat={setRepeat}
          />
        )}
        {step === "gateway" && (
          <GatewayStep
            draft={draft}
            gateway={draft.gateway ?? "stripe"}
            setDraft={setDraft}
            choose={(g) => update({ gateway: g, fallback_gateway: null })}
          />
        )}
        {step === "fallback" && <FallbackStep draft={draft} update={update} setDraft={setDraft} />}
        {step === "mail" && <MailStep draft={draft} update={update} setDraft={setDraft} />}
        {step === "review" && (
          <ReviewStep draft={draft} password={password} setPassword={setPassword} repeat={repeat} setRepeat={setRepeat} />
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="setup-error">
            {error}
          </p>
        )}
        <div className="actions">
          {at > 0 && (
            <button
              type="button"
              disabled={busy}
              data-testid="setup-back"
              onClick={() => {
                setError(null);
                void go(STEPS[at - 1] ?? "database");
              }}
            >
              Back
            </button>
          )}
          <button type="submit" className="primary" disabled={busy} data-testid="setup-next">
            {step === "review" ? "Set up the clinic" : "Next"}
          </button>
        </div>
      </form>
    </div>
  );
}

type StepProps = { draft: SetupDraft; update: (c: Partial<SetupDraft>) => void };

/** This computer (one desk), or the clinic's PostgreSQL (several desks): joined when it already holds
 * the clinic, set up in when empty. What IT pinned is only shown. */
function DatabaseStep({
  setBlock,
  onJoined,
}: {
  setBlock: (why: string | null) => void;
  onJoined: (clinic: ClinicInfo) => void;
}) {
  const [current, setCurrent] = useState<SetupDatabase | null>(null);
  const [server, setServer] = useState(false);
  const [address, setAddress] = useState("");
  const [password, setPassword] = useState("");
  const [result, setResult] = useState<string | null>(null);
  const { busy, error, submit } = useSubmit();
  useEffect(() => {
    call(commands.setupDatabase())
      .then(setCurrent)
      .catch(() => undefined);
  }, []);
  // Set in the same event as the choice, not in an effect: Preact runs effects after the next paint, and
  // a Next pressed right after choosing PostgreSQL must already be refused.
  const updateBlock = (on: boolean, now: SetupDatabase | null = current) =>
    setBlock(on && now?.kind !== "postgres" ? "Connect to the clinic's PostgreSQL first, or choose this computer." : null);
  function choose(on: boolean) {
    setServer(on);
    updateBlock(on);
  }
  if (!current) return <p className="muted">Looking at this desk&apos;s database…</p>;
  if (current.pinned_by_it || current.kind === "postgres") {
    return (
      <p data-testid="setup-database-current">
        {current.pinned_by_it ? "IT set this desk's database" : "The clinic's PostgreSQL"}: <code>{current.database}</code>.
        {result ? ` ${result}` : ""}
      </p>
    );
  }
  return (
    <>
      <fieldset className="choice">
        <legend>The clinic&apos;s data lives on</legend>
        <label className="inline-label">
          <input type="radio" name="database" value="here" checked={!server} onChange={() => choose(false)} />
          This computer
        </label>
        <label className="inline-label">
          <input type="radio" name="database" value="postgres" checked={server} onChange={() => choose(true)} />
          The clinic&apos;s PostgreSQL (several desks)
        </label>
      </fieldset>
      {!server && (
        <p className="muted">
          One desk keeps the clinic in <code>{current.database}</code>. IT can move it to the clinic&apos;s PostgreSQL later
          when more desks join.
        </p>
      )}
      {server && (
        <>
          <label>
            Address (postgres://USER@HOST/DATABASE)
            <input name="database_address" value={address} onChange={(e) => setAddress(e.target.value)} />
          </label>
          <label>
            Password
            <input
              name="database_password"
              type="password"
              autoComplete="off"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          <p className="muted">The address and its password are kept in this computer&apos;s keychain.</p>
          <div className="actions">
            <button
              type="button"
              disabled={busy || !address.trim()}
              data-testid="connect-database"
              onClick={() =>
                void submit(async () => {
                  const chosen = await call(commands.useClinicDatabase(address, password || null));
                  setPassword("");
                  if (chosen.clinic_name) {
                    onJoined(await call(commands.clinicInfo()));
                    return;
                  }
                  setResult(chosen.message);
                  const now = await call(commands.setupDatabase());
                  setCurrent(now);
                  updateBlock(server, now);
                })
              }
            >
              Connect
            </button>
          </div>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
        </>
      )}
    </>
  );
}

function ClinicStep({ draft, update }: StepProps) {
  return (
    <>
      <label>
        Clinic name (as patients know it: it is on every email and report)
        <input
          name="clinic_name"
          value={draft.clinic_name}
          onChange={(e) => update({ clinic_name: e.target.value })}
          ref={focusOnMount}
          required
        />
      </label>
      <label>
        Currency
        <select name="currency" value={draft.currency} onChange={(e) => update({ currency: e.target.value })}>
          {CURRENCIES.map((c) => (
            <option key={c}>{c}</option>
          ))}
        </select>
      </label>
    </>
  );
}

function AccountStep({
  draft,
  update,
  password,
  setPassword,
  repeat,
  setRepeat,
}: StepProps & { password: string; setPassword: (p: string) => void; repeat: string; setRepeat: (p: string) => void }) {
  return (
    <>
      <p className="muted">
        This account sets up staff, keys and updates. Use it for IT work only; add a billing manager and the front desk
        in Settings → Staff afterwards.
      </p>
      <label>
        Sign-in name
        <input
          name="it_username"
          autoComplete="username"
          value={draft.it_username}
          onChange={(e) => update({ it_username: e.target.value })}
          ref={focusOnMount}
          required
        />
      </label>
      <label>
        Name shown at the desk
        <input
          name="it_display_name"
          value={draft.it_display_name}
          onChange={(e) => update({ it_display_name: e.target.value })}
        />
      </label>
      <PasswordTwice
        label="Password (at least 12 characters)"
        password={password}
        setPassword={setPassword}
        repeat={repeat}
        setRepeat={setRepeat}
      />
    </>
  );
}

/** The IT account's new password, typed twice (the step checks they match). */
function PasswordTwice({
  label,
  password,
  setPassword,
  repeat,
  setRepeat,
}: {
  label: string;
  password: string;
  setPassword: (p: string) => void;
  repeat: string;
  setRepeat: (p: string) => void;
}) {
  return (
    <>
      <label>
        {label}
        <input
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
      </label>
      <label>
        The same password again
        <input
          name="password_repeat"
          type="password"
          autoComplete="new-password"
          value={repeat}
          onChange={(e) => setRepeat(e.target.value)}
          required
        />
      </label>
    </>
  );
}

/** One gateway's keys and its live check: the secret goes to this computer's keychain, never further. */
function GatewayKeys({
  draft,
  gateway,
  setDraft,
}: {
  draft: SetupDraft;
  gateway: Gateway;
  setDraft: (f: (d: SetupDraft) => SetupDraft) => void;
}) {
  const [secret, setSecret] = useState("");
  const [result, setResult] = useState<{ works: boolean; message: string } | null>(null);
  const { busy, error, submit } = useSubmit();
  const stripe = gateway === "stripe";
  const publicKey = stripe ? draft.stripe_publishable_key : draft.nmi_tokenization_key;
  const address = stripe ? draft.stripe_api_base : draft.nmi_api_base;
  // Any change to what was checked needs a new check.
  function edit(change: Partial<SetupDraft>) {
    setResult(null);
    setDraft((d) => ({ ...d, ...change, checked: d.checked.filter((g) => g !== gateway) }));
  }
  return (
    <div className="stack" data-testid={`gateway-keys-${gateway}`}>
      <label>
        {stripe ? "Secret key (sk_live_… or rk_live_…)" : "Security key (from NMI's merchant portal)"}
        <input
          name={`${gateway}_secret`}
          type="password"
          autoComplete="off"
          value={secret}
          onChange={(e) => {
            setSecret(e.target.value);
            setResult(null);
            // A new key is not the one that was checked: it needs its own check.
            if (e.target.value) setDraft((d) => ({ ...d, checked: d.checked.filter((g) => g !== gateway) }));
          }}
          placeholder={draft.checked.includes(gateway) ? "Kept in this computer's keychain" : ""}
        />
      </label>
      <label>
        {stripe ? "Publishable key (pk_live_…)" : "Tokenization key (Collect.js)"}
        <input
          name={`${gateway}_public_key`}
          value={publicKey}
          onChange={(e) =>
            edit(stripe ? { stripe_publishable_key: e.target.value } : { nmi_tokenization_key: e.target.value })
          }
        />
      </label>
      <details open={!!address}>
        <summary>Advanced: the gateway&apos;s address</summary>
        <label>
          Address (leave empty for {gatewayName(gateway)} itself; https only)
          <input
            name={`${gateway}_api_base`}
            value={address}
            onChange={(e) => edit(stripe ? { stripe_api_base: e.target.value } : { nmi_api_base: e.target.value })}
          />
        </label>
      </details>
      <p className="muted">The secret key goes straight into this computer&apos;s keychain: never into the database or a file.</p>
      <div className="actions">
        <button
          type="button"
          disabled={busy}
          data-testid={`check-${gateway}`}
          onClick={() =>
            void submit(async () => {
              const checked = await call(commands.checkSetupGateway(draft, gateway, secret || null));
              setSecret("");
              setDraft(() => checked.draft);
              setResult({ works: checked.works, message: checked.message });
            })
          }
        >
          Check {gatewayName(gateway)}
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {result && (
        <p
          className={result.works ? "ok-text" : "form-error"}
          role={result.works ? "status" : "alert"}
          data-testid={`check-result-${gateway}`}
        >
          {result.message}
        </p>
      )}
      {!result && draft.checked.includes(gateway) && (
        <p className="ok-text" role="status" data-testid={`check-result-${gateway}`}>
          {gatewayName(gateway)} answered with the key kept on this computer.
        </p>
      )}
    </div>
  );
}

function GatewayStep({
  draft,
  gateway,
  setDraft,
  choose,
}: {
  draft: SetupDraft;
  gateway: Gateway;
  setDraft: (f: (d: SetupDraft) => SetupDraft) => void;
  choose: (g: Gateway) => void;
}) {
  return (
    <>
      <fieldset className="choice">
        <legend>The clinic takes cards through</legend>
        {(["stripe", "nmi"] as const).map((g) => (
          <label key={g} className="inline-label">
            <input type="radio" name="gateway" value={g} checked={gateway === g} onChange={() => choose(g)} />
            {gatewayName(g)}
          </label>
        ))}
      </fieldset>
      <GatewayKeys key={gateway} draft={draft} gateway={gateway} setDraft={setDraft} />
    </>
  );
}

function FallbackStep({
  draft,
  update,
  setDraft,
}: StepProps & { setDraft: (f: (d: SetupDraft) => SetupDraft) => void }) {
  const second = other(draft.gateway ?? "stripe");
  return (
    <>
      <p className="muted">
        A fallback gateway is tried when {gatewayName(draft.gateway ?? "stripe")} cannot be reached, for cards saved
        with it. Most clinics have none.
      </p>
      <fieldset className="choice">
        <legend>Fallback</legend>
        <label className="inline-label">
          <input
            type="radio"
            name="fallback"
            checked={!draft.fallback_gateway}
            onChange={() => update({ fallback_gateway: null })}
          />
          No fallback gateway
        </label>
        <label className="inline-label">
          <input
            type="radio"
            name="fallback"
            checked={draft.fallback_gateway === second}
            onChange={() => update({ fallback_gateway: second })}
          />
          {gatewayName(second)}
        </label>
      </fieldset>
      {draft.fallback_gateway && <GatewayKeys draft={draft} gateway={second} setDraft={setDraft} />}
    </>
  );
}

function MailStep({
  draft,
  update,
  setDraft,
}: StepProps & { setDraft: (f: (d: SetupDraft) => SetupDraft) => void }) {
  const [password, setPassword] = useState("");
  const [to, setTo] = useState("");
  const [sent, setSent] = useState<string | null>(null);
  const { busy, error, submit } = useSubmit();
  function edit(change: Partial<SetupDraft>) {
    setSent(null);
    update({ ...change, smtp_tested: false });
  }
  const field = (label: string, key: "smtp_host" | "smtp_port" | "smtp_username" | "smtp_from", extra?: ReactNode) => (
    <label>
      {label}
      <input name={key} value={draft[key]} onChange={(e) => edit({ [key]: e.target.value })} />
      {extra}
    </label>
  );
  return (
    <>
      <p className="muted">
        Card expiry reminders go to patients through the clinic&apos;s mail server. Leave it empty to set it up later in
        Settings.
      </p>
      {field("Mail server (e.g. smtp.office365.com)", "smtp_host")}
      {field("Port (587 for STARTTLS, 465 for TLS)", "smtp_port")}
      <label>
        Security
        <select
          name="smtp_security"
          value={draft.smtp_security || "starttls"}
          onChange={(e) => edit({ smtp_security: e.target.value })}
        >
          <option value="starttls">STARTTLS</option>
          <option value="tls">TLS</option>
          <option value="none">None (a server on this computer only)</option>
        </select>
      </label>
      {field("Sign-in name at the mail server (if it asks for one)", "smtp_username")}
      <label>
        Password at the mail server (kept in this computer&apos;s keychain)
        <input
          name="smtp_password"
          type="password"
          autoComplete="off"
          value={password}
          onChange={(e) => {
            setPassword(e.target.value);
            edit({});
          }}
        />
      </label>
      {field("Emails come from (e.g. billing@clinic.example)", "smtp_from")}
      <label>
        Send a test email to
        <input name="smtp_test_to" type="email" value={to} onChange={(e) => setTo(e.target.value)} />
      </label>
      <div className="actions">
        <button
          type="button"
          disabled={busy || !draft.smtp_host.trim()}
          data-testid="send-test-email"
          onClick={() =>
            void submit(async () => {
              const tested = await call(
                commands.sendSetupTestEmail(
                  { ...draft, smtp_security: draft.smtp_security || "starttls" },
                  password || null,
                  to,
                ),
              );
              setPassword("");
              setDraft(() => tested);
              setSent(`The test email went to ${to}: check that it arrived.`);
            })
          }
        >
          Send the test email
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {(sent ?? (draft.smtp_tested ? "The test email went through." : null)) && (
        <p className="ok-text" role="status" data-testid="test-email-result">
          {sent ?? "The test email went through."}
        </p>
      )}
    </>
  );
}

function ReviewStep({
  draft,
  password,
  setPassword,
  repeat,
  setRepeat,
}: {
  draft: SetupDraft;
  password: string;
  setPassword: (p: string) => void;
  repeat: string;
  setRepeat: (p: string) => void;
}) {
  const gateway = draft.gateway ?? "stripe";
  // Asked here when setup was resumed after the window closed (the password is never kept).
  const [ask] = useState(!password);
  const [database, setDatabase] = useState("");
  useEffect(() => {
    call(commands.setupDatabase())
      .then((d) => setDatabase(d.kind === "postgres" ? `The clinic's PostgreSQL: ${d.database}` : `This computer: ${d.database}`))
      .catch(() => undefined);
  }, []);
  return (
    <>
      <dl className="facts" data-testid="setup-review">
        <dt>Clinic</dt>
        <dd>
          {draft.clinic_name} · {draft.currency}
        </dd>
        <dt>IT account</dt>
        <dd>{draft.it_username}</dd>
        <dt>Gateway</dt>
        <dd>
          {gatewayName(gateway)}
          {draft.checked.includes(gateway) ? " (checked)" : " (not checked)"}
        </dd>
        <dt>Fallback</dt>
        <dd>{draft.fallback_gateway ? gatewayName(draft.fallback_gateway) : "None"}</dd>
        <dt>Mail server</dt>
        <dd>{draft.smtp_host ? `${draft.smtp_host} (${draft.smtp_tested ? "tested" : "not tested"})` : "Not set up"}</dd>
        <dt>Data</dt>
        <dd data-testid="review-database">{database}</dd>
      </dl>
      {ask && (
        <PasswordTwice
          label="The IT account's password (it is not kept while setup is unfinished)"
          password={password}
          setPassword={setPassword}
          repeat={repeat}
          setRepeat={setRepeat}
        />
      )}
      <p className="muted">
        The clinic is made when you press “Set up the clinic”; until then nothing is saved in its database.
      </p>
    </>
  );
}
