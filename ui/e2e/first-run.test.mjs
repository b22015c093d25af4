// End-to-end: a new desk sets its clinic up from the window alone (issue 20, item 1), against the gateway
// simulator behind https (a shipped build sends a live key over https only), with the key in this run's
// Secret Service; the setup is resumed after the app is closed half-way; and once the clinic exists the
// app's own billing engine charges a subscription's first cycle with nobody signed in and no worker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, accessible, required, shot, signIn, withApp } from "./harness.mjs";
import { checkNmi, fillNmi, gatewayOverHttps, next, setupError, step } from "./setup-steps.mjs";

const TLS = required("CLINICPAY_TEST_GATEWAY_TLS");
const SMTP_PORT = required("CLINICPAY_E2E_SMTP_PORT");
const MAILDIR = required("CLINICPAY_E2E_MAILDIR");
// The clinic's own live security key (not NMI's public test key, which a live clinic refuses).
const NMI_KEY = "RiversideLiveSecurityKey0000001";
const TOKENIZATION_KEY = "5mN8N7-jhr55W-N22pxX-uAW2s9";
const PASSWORD = "riverside it password 20";
const WORK = mkdtempSync(join(tmpdir(), "clinicpay-first-run-"));
const DB = join(WORK, "new-clinic.db");

function cli(who, password, ...args) {
  return JSON.parse(
    execFileSync(CLI, ["--db", DB, "--as", who, "--json", ...args], {
      encoding: "utf8",
      env: { ...process.env, CLINICPAY_PASSWORD: password },
    }),
  );
}

function cliWithStdin(who, password, input, ...args) {
  return JSON.parse(
    execFileSync(CLI, ["--db", DB, "--as", who, "--json", ...args], {
      encoding: "utf8",
      input,
      env: { ...process.env, CLINICPAY_PASSWORD: password },
    }),
  );
}

function mails() {
  return ["new", "cur"]
    .map((d) => join(MAILDIR, d))
    .filter(existsSync)
    .flatMap((d) => readdirSync(d).map((f) => readFileSync(join(d, f), "utf8")));
}

test("a new desk sets its clinic up in the window, resumes after closing, and then bills by itself", async () => {
  const gateway = await gatewayOverHttps(CLI, NMI_KEY, TLS);

  // First visit: the clinic, its IT account and the gateway; then the window is closed.
  await withApp(
    async (browser) => {
      await browser.$('[data-testid="first-run"]').waitForDisplayed({ timeout: 20_000 });
      await accessible(browser, "first-run");
      await shot(browser, "first-run");
      await browser.$('[data-testid="setup-start"]').click();

      // This computer: the database the desk opened.
      await step(browser, "database");
      await next(browser);

      await step(browser, "clinic");
      await browser.$('input[name="clinic_name"]').setValue("Riverside Family Clinic");
      await next(browser);

      await step(browser, "account");
      await browser.$('input[name="it_username"]').setValue("alex.it");
      await browser.$('input[name="it_display_name"]').setValue("Alex (IT)");
      await browser.$('input[name="password"]').setValue("short");
      await browser.$('input[name="password_repeat"]').setValue("short");
      await next(browser);
      assert.match(await setupError(browser), /at least 12 characters/);
      await browser.$('input[name="password"]').setValue(PASSWORD);
      await browser.$('input[name="password_repeat"]').setValue(PASSWORD);
      await next(browser);

      await step(browser, "gateway");
      // A key the gateway refuses is said so, and the step does not go on.
      await fillNmi(browser, { address: gateway.https, tokenizationKey: TOKENIZATION_KEY });
      await browser.$('input[name="nmi_secret"]').setValue("SomebodyElsesKey00000000000001");
      await browser.$('[data-testid="check-nmi"]').click();
      const refused = await browser.$('[data-testid="check-result-nmi"]');
      await refused.waitForDisplayed({ timeout: 20_000 });
      assert.equal(await refused.getAttribute("role"), "alert", await refused.getText());
      await next(browser);
      assert.match(await setupError(browser), /Check NMI first/);
      await checkNmi(browser, { address: gateway.https, key: NMI_KEY, tokenizationKey: TOKENIZATION_KEY });
      assert.match(await browser.$('[data-testid="check-result-nmi"]').getText(), /accepts the NMI security key/);
      await accessible(browser, "setup-gateway");
      await shot(browser, "setup-gateway-checked");
    },
    { db: DB },
  );
  // Closed half-way: no clinic exists yet.
  assert.throws(() => cli("alex.it", PASSWORD, "settings", "show"), "no account before setup finishes");

  // Second visit: it resumes at the gateway, already checked, and goes on to the end.
  await withApp(
    async (browser) => {
      const start = await browser.$('[data-testid="setup-start"]');
      await start.waitForDisplayed({ timeout: 20_000 });
      assert.equal(await start.getText(), "Continue setting up this clinic");
      await start.click();
      await step(browser, "gateway");
      assert.match(await browser.$('[data-testid="check-result-nmi"]').getText(), /answered with the key kept/);
      await next(browser);

      await step(browser, "fallback");
      await next(browser);

      await step(browser, "mail");
      await browser.$('input[name="smtp_host"]').setValue("localhost");
      await browser.$('input[name="smtp_port"]').setValue(SMTP_PORT);
      await browser.$('select[name="smtp_security"]').selectByAttribute("value", "none");
      await browser.$('input[name="smtp_from"]').setValue("billing@riverside.example");
      await next(browser);
      assert.match(await setupError(browser), /Send the test email first/);
      await browser.$('input[name="smtp_test_to"]').setValue("alex@riverside.example");
      await browser.$('[data-testid="send-test-email"]').click();
      await browser.$('[data-testid="test-email-result"]').waitForDisplayed({ timeout: 20_000 });
      assert.ok(
        mails().some((m) => m.includes("ClinicPay test email from Riverside Family Clinic")),
        "the test email reached the mail server",
      );
      await next(browser);

      await step(browser, "review");
      const review = await browser.$('[data-testid="setup-review"]').getText();
      assert.match(review, /Riverside Family Clinic/);
      assert.match(review, /NMI \(checked\)/);
      assert.match(await browser.$('[data-testid="review-database"]').getText(), /This computer/);
      // The password was not kept across the restart: asked again here.
      await browser.$('input[name="password"]').setValue(PASSWORD);
      await browser.$('input[name="password_repeat"]').setValue(`${PASSWORD}x`);
      await next(browser);
      assert.match(await setupError(browser), /The two passwords differ/);
      await browser.$('input[name="password_repeat"]').setValue(PASSWORD);
      await next(browser);

      // The clinic exists: its sign-in screen, and the new IT account signs in.
      const title = await browser.$("#sign-in-title");
      await title.waitForDisplayed({ timeout: 20_000 });
      assert.equal(await title.getText(), "Sign in to Riverside Family Clinic");
      await signIn(browser, "alex.it", PASSWORD);
      assert.match(await browser.$('[data-testid="gateway-chip"]').getText(), /NMI/);

      const settings = cli("alex.it", PASSWORD, "settings", "show");
      const value = (k) => settings.find((v) => v.key === k).value;
      assert.equal(value("gateway"), "nmi");
      assert.equal(value("nmi.api-base"), gateway.https);
      assert.equal(value("smtp.from"), "billing@riverside.example");

      // The app's own engine bills: a billing manager adds a patient with a card and a subscription
      // (through the CLI), and its first cycle is charged with no worker running anywhere.
      cliWithStdin("alex.it", PASSWORD, "riverside manager pw 20\n", "staff", "add", "rita", "--role", "billing_manager");
      const patient = cli("rita", "riverside manager pw 20", "patients", "add", "--name", "Pat Rivers", "--email", "pat@riverside.example");
      const token = execFileSync(CLI, ["--json", "sim", "token", "--sim", gateway.sim, "--gateway", "nmi", "--card", "4111111111111111", "--exp", "12/30"], {
        encoding: "utf8",
      });
      const tokenValue = JSON.parse(token).token;
      cli("rita", "riverside manager pw 20", "cards", "add", String(patient.id), "--gateway", "nmi", "--token", tokenValue);
      cli("rita", "riverside manager pw 20", "subscriptions", "create", String(patient.id), "--plan", "Wellness", "--amount", "49.00", "--every", "month");
      let payments = [];
      const started = Date.now();
      while (Date.now() - started < 120_000) {
        payments = cli("rita", "riverside manager pw 20", "payments", "list", String(patient.id));
        if (payments.some((p) => p.status === "SUCCEEDED")) break;
        await new Promise((r) => setTimeout(r, 2_000));
      }
      const paid = payments.filter((p) => p.status === "SUCCEEDED");
      assert.equal(paid.length, 1, `the first cycle charged once by the app: ${JSON.stringify(payments)}`);
      assert.equal(paid[0].amount.minor, 4900);
      // The pass that charged it is still finishing (reminders, the daily reconciliation): wait for its end.
      let engine = cli("alex.it", PASSWORD, "worker", "status");
      const passing = Date.now();
      while (engine.last_pass_at === null && Date.now() - passing < 60_000) {
        await new Promise((r) => setTimeout(r, 1_000));
        engine = cli("alex.it", PASSWORD, "worker", "status");
      }
      assert.equal(engine.runner?.kind, "desk", JSON.stringify(engine));
      assert.equal(engine.warning, null, JSON.stringify(engine));
      console.log(`# the app's engine charged the first cycle ${((Date.now() - started) / 1000).toFixed(1)} s after the subscription was made`);

      // Settings → Billing engine says this desk runs it.
      await browser.$('[data-testid="nav-settings"]').click();
      const runner = await browser.$('[data-testid="engine-runner"]');
      await runner.waitForDisplayed({ timeout: 10_000 });
      assert.match(await runner.getText(), /\(this desk\)/);
      await shot(browser, "settings-billing-engine");
    },
    { db: DB },
  );
});

test("a new desk opens the demo clinic for training from the first-run screen, in a database of its own", async () => {
  const empty = join(WORK, "empty.db");
  await withApp(
    async (browser) => {
      const demo = await browser.$('[data-testid="open-demo"]');
      await demo.waitForDisplayed({ timeout: 20_000 });
      await demo.click();
      const title = await browser.$("#sign-in-title");
      await title.waitForDisplayed({ timeout: 60_000 });
      assert.match(await title.getText(), /\(demo\)/);
      await browser.$('[data-testid="training-banner"]').waitForDisplayed({ timeout: 5_000 });
      await signIn(browser, "frontdesk", "demo");
      await shot(browser, "demo-from-first-run");
    },
    { db: empty },
  );
  // The database the desk was started on is left as it was: still no clinic in it.
  assert.throws(() =>
    execFileSync(CLI, ["--db", empty, "--as", "it", "--json", "settings", "show"], {
      encoding: "utf8",
      env: { ...process.env, CLINICPAY_PASSWORD: "demo" },
      stdio: "pipe",
    }),
  );
});

test("a new desk joins the clinic already in the clinic's PostgreSQL from the first-run screen", async () => {
  const pg = required("CLINICPAY_E2E_PG_DB");
  const empty = join(WORK, "joining.db");
  await withApp(
    async (browser) => {
      await browser.$('[data-testid="setup-start"]').waitForDisplayed({ timeout: 20_000 });
      await browser.$('[data-testid="setup-start"]').click();
      await step(browser, "database");
      await browser.$('input[name="database"][value="postgres"]').click();
      // Chosen but not connected: the step says what to do.
      await next(browser);
      assert.match(await setupError(browser), /Connect to the clinic's PostgreSQL first/);
      await browser.$('input[name="database_address"]').setValue("https://db.clinic.example/clinicpay");
      await browser.$('[data-testid="connect-database"]').click();
      const wrong = await browser.$('[data-testid="setup-database"] .form-error');
      await wrong.waitForDisplayed({ timeout: 10_000 });
      assert.match(await wrong.getText(), /postgres:\/\/USER@HOST\/DATABASE/);
      await browser.$('input[name="database_address"]').setValue(pg);
      await browser.$('[data-testid="connect-database"]').click();
      // It holds a clinic: this desk joins it and shows its sign-in.
      const title = await browser.$("#sign-in-title");
      await title.waitForDisplayed({ timeout: 30_000 });
      assert.match(await title.getText(), /Sign in to .*\(demo\)/);
      await signIn(browser, "frontdesk", "demo");
      await shot(browser, "joined-postgresql");
    },
    { db: empty },
  );
});
