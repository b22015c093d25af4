// End-to-end: the billing manager's screens in the real window. The expiring-cards dashboard is
// compared with `clinicpay expiring`, and its reminders go through a real mail server (aiosmtpd, started
// by scripts/e2e.sh) whose mailbox the test reads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  accessible,
  addNmiCard,
  CLI,
  clinicpay,
  clinicpayAs,
  newPatient,
  openPatient,
  required,
  shot,
  signIn,
  tab,
  toast,
  withApp,
} from "./harness.mjs";

const MAILDIR = required("CLINICPAY_E2E_MAILDIR");
const SMTP_PORT = required("CLINICPAY_E2E_SMTP_PORT");

function delivered() {
  return ["new", "cur"].flatMap((d) => {
    try {
      return readdirSync(join(MAILDIR, d)).map((f) => readFileSync(join(MAILDIR, d, f), "utf8"));
    } catch {
      return [];
    }
  });
}

async function rowsShown(browser) {
  return browser.execute(() =>
    Array.from(document.querySelectorAll('[data-testid="expiring-row"]'), (r) => Number(r.getAttribute("data-card"))),
  );
}

async function waitForTable(browser) {
  await browser.waitUntil(
    async () =>
      (await browser.$('[data-testid="expiring-table"]').isExisting()) ||
      (await browser.$('[data-testid="no-expiring"]').isExisting()),
    { timeout: 10_000, timeoutMsg: "the dashboard never showed its table or its empty state" },
  );
}

test("the expiring-cards dashboard matches the store, filters, and sends reminders to the patients", async () => {
  for (const [k, v] of [
    ["smtp.host", "127.0.0.1"],
    ["smtp.port", SMTP_PORT],
    ["smtp.security", "none"],
    ["smtp.from", "Riverside Family Clinic <billing@riverside.example>"],
  ]) {
    // Where the clinic's emails go is IT's to set.
    clinicpayAs("it", "settings", "set", k, v);
  }
  await withApp(async (browser) => {
    await signIn(browser, "manager");
    await browser.$('[data-testid="nav-expiring"]').click();
    await browser.$('[data-testid="expiring-screen"]').waitForDisplayed({ timeout: 10_000 });
    await waitForTable(browser);

    // Next 60 days by default: the same cards as `clinicpay expiring`, in the same order.
    const store60 = clinicpay("expiring").cards.map((c) => c.card_id);
    assert.ok(store60.length > 0, "the demo clinic has cards expiring within 60 days");
    assert.deepEqual(await rowsShown(browser), store60);
    await shot(browser, "60-expiring-60-days");
    await accessible(browser, "expiring cards");

    // Businesses in the next 90 days.
    await browser.$('[data-testid="window-90"]').click();
    await browser.$('[data-testid="patient-type-filter"]').selectByAttribute("value", "business");
    const business = clinicpay("expiring", "--within", "90", "--type", "business").cards.map((c) => c.card_id);
    await browser.waitUntil(async () => JSON.stringify(await rowsShown(browser)) === JSON.stringify(business), {
      timeout: 10_000,
      timeoutMsg: "the business filter did not show what the store has",
    });
    await shot(browser, "61-expiring-business-90-days");

    // Already expired: every row says EXPIRED.
    await browser.$('[data-testid="patient-type-filter"]').selectByAttribute("value", "all");
    await browser.$('[data-testid="window-expired"]').click();
    const expired = clinicpay("expiring", "--expired").cards.map((c) => c.card_id);
    await browser.waitUntil(async () => JSON.stringify(await rowsShown(browser)) === JSON.stringify(expired), {
      timeout: 10_000,
    });
    const days = await browser.execute(() =>
      Array.from(document.querySelectorAll('[data-testid="expiring-days"]'), (e) => e.innerText.trim()),
    );
    assert.ok(days.length > 0 && days.every((d) => d === "EXPIRED"), JSON.stringify(days));
    await shot(browser, "62-expiring-already-expired");

    // Next 30 days: select all, send reminders; each patient gets one email, and a second send the
    // same day sends nothing more.
    await browser.$('[data-testid="window-30"]').click();
    const soon = clinicpay("expiring", "--within", "30").cards;
    await browser.waitUntil(async () => (await rowsShown(browser)).length === soon.length, { timeout: 10_000 });
    const before = delivered().length;
    await browser.$('[data-testid="select-all"]').click();
    assert.equal(await browser.$('[data-testid="notify-selected"]').getText(), `Send reminders (${soon.length})`);
    await shot(browser, "63-expiring-select-all");
    await browser.$('[data-testid="notify-selected"]').click();
    assert.equal(await toast(browser), `${soon.length} reminder${soon.length === 1 ? "" : "s"} sent.`);
    const mails = delivered().slice(before);
    assert.equal(mails.length, soon.length);
    for (const card of soon) {
      assert.ok(
        mails.some((m) => m.includes(card.patient_email) && m.includes(`ending in ${card.last4}`)),
        `no email to ${card.patient_email} about the card ending in ${card.last4}`,
      );
    }
    const first = await browser.$('[data-testid="expiring-row"] [data-testid="notify-one"]');
    await first.click();
    assert.match(await toast(browser), /^0 reminders sent, 1 already sent today\.$/);
    assert.equal(delivered().length, before + soon.length, "no second email the same day");

    // Update opens the patient's payment methods.
    await browser.$('[data-testid="expiring-row"] [data-testid="update-card"]').click();
    await browser.$('[data-testid="cards-table"]').waitForDisplayed({ timeout: 10_000 });
    assert.equal(await browser.$('[data-testid="patient-name"]').getText(), soon[0].patient_name);
  });
});

test("a clinic with more expiring cards than a page: Show more brings the rest, in the store's order", async () => {
  // A clinic of its own, large enough that the 90-day window holds more than the window's page of 500.
  const db = join(mkdtempSync(join(tmpdir(), "clinicpay-expiring-")), "large.db");
  execFileSync(CLI, ["--db", db, "demo", "seed", "--patients", "4000"], { stdio: "ignore" });
  const store = JSON.parse(
    execFileSync(CLI, ["--db", db, "--as", "manager", "--json", "expiring", "--within", "90"], {
      encoding: "utf8",
      env: { ...process.env, CLINICPAY_PASSWORD: "demo" },
    }),
  ).cards.map((c) => c.card_id);
  assert.ok(store.length > 500 && store.length < 1000, `between one and two pages: ${store.length}`);
  await withApp(
    async (browser) => {
      await signIn(browser, "manager");
      await browser.$('[data-testid="nav-expiring"]').click();
      await browser.$('[data-testid="window-90"]').click();
      await browser.waitUntil(async () => (await rowsShown(browser)).length === 500, {
        timeout: 20_000,
        timeoutMsg: "the first page of 500 never showed",
      });
      assert.deepEqual(await rowsShown(browser), store.slice(0, 500), "the first page is the store's first 500");
      assert.match(await browser.$('[data-testid="expiring-count"]').getText(), /^500 cards shown, soonest first; more match/);
      await browser.$('[data-testid="expiring-more"]').click();
      await browser.waitUntil(async () => (await rowsShown(browser)).length === store.length, {
        timeout: 20_000,
        timeoutMsg: "Show more did not bring the rest",
      });
      assert.deepEqual(await rowsShown(browser), store, "the two pages are the store's list, each card once");
      assert.equal(await browser.$('[data-testid="expiring-more"]').isExisting(), false, "nothing more to show");
      assert.equal(await browser.$('[data-testid="expiring-count"]').getText(), `${store.length} cards.`);
      // Select all takes every card shown, both pages.
      await browser.$('[data-testid="select-all"]').click();
      assert.equal(await browser.$('[data-testid="notify-selected"]').getText(), `Send reminders (${store.length})`);
      await shot(browser, "64-expiring-show-more");
    },
    { db },
  );
});

test("the gateway report matches the ledger, draws its charts, and exports CSV and PDF; failed payments are searchable", async () => {
  await withApp(async (browser) => {
    await signIn(browser, "manager");
    await browser.$('[data-testid="nav-reports"]').click();
    await browser.$('[data-testid="report-table"]').waitForDisplayed({ timeout: 10_000 });
    const store = clinicpay("reports", "gateway");
    const shown = await browser.execute(() =>
      Array.from(document.querySelectorAll('[data-testid="report-row"]'), (r) => ({
        gateway: r.getAttribute("data-gateway"),
        succeeded: Number(r.querySelector('[data-testid="report-succeeded"]').innerText),
        amount: r.querySelector('[data-testid="report-amount"]').innerText,
      })),
    );
    assert.deepEqual(
      shown.map((r) => [r.gateway, r.succeeded]),
      store.gateways.map((g) => [g.gateway, g.succeeded]),
    );
    for (const [i, g] of store.gateways.entries()) {
      assert.equal(shown[i].amount, `$${(g.succeeded_amount.minor / 100).toLocaleString("en-US", { minimumFractionDigits: 2 })}`);
    }
    assert.ok(await browser.$('[data-testid="chart-outcomes"] canvas').isDisplayed(), "the outcomes chart is drawn");
    await shot(browser, "64-gateway-report");
    await accessible(browser, "gateway report");

    for (const format of ["csv", "pdf"]) {
      await browser.$(`[data-testid="export-${format}"]`).click();
      const saved = await toast(browser);
      const path = saved.match(/saved as (.*)\.$/)?.[1];
      assert.ok(path?.endsWith(`.${format}`), saved);
      const bytes = readFileSync(path);
      if (format === "csv") assert.ok(bytes.toString().startsWith("section,gateway,currency,item,count,amount"));
      else assert.equal(bytes.subarray(0, 5).toString(), "%PDF-");
    }

    await browser.$('[data-testid="nav-failed"]').click();
    const search = await browser.$('[data-testid="failed-search"]');
    await search.waitForDisplayed({ timeout: 10_000 });
    await search.setValue("insufficient");
    await browser.keys("Enter");
    const want = clinicpay("reports", "failed-payments", "insufficient").map((p) => p.id);
    assert.ok(want.length > 0, "the demo clinic has insufficient-funds declines");
    await browser.waitUntil(
      async () =>
        JSON.stringify(
          await browser.execute(() =>
            Array.from(document.querySelectorAll('[data-testid="payment-row"]'), (r) => Number(r.getAttribute("data-payment"))),
          ),
        ) === JSON.stringify(want),
      { timeout: 10_000, timeoutMsg: "the search did not show what the store finds" },
    );
    await shot(browser, "65-failed-payments-search");

    // Reconciliation: run now for yesterday; the verdict and every difference say what to do.
    await browser.$('[data-testid="nav-reconciliation"]').click();
    await browser.$('[data-testid="reconcile-now"]').waitForDisplayed({ timeout: 10_000 });
    await browser.$('[data-testid="reconcile-now"]').click();
    const verdict = await browser.$('[data-testid="reconciliation-verdict"]');
    await verdict.waitForDisplayed({ timeout: 30_000 });
    assert.match(await verdict.getText(), /^Reconciliation of \d{4}-\d{2}-\d{2}: /);
    const todo = await browser.execute(() =>
      Array.from(document.querySelectorAll('[data-testid="mismatch"] td:last-child'), (c) => c.innerText.trim()),
    );
    assert.ok(todo.every((t) => t.length > 20), `every difference says what to do: ${todo}`);
    await shot(browser, "66-reconciliation");
    await accessible(browser, "reconciliation");
  });
});

test("before switching gateways the manager sees who would break, as the store counts it", async () => {
  await withApp(async (browser) => {
    await signIn(browser, "manager");
    await browser.$('[data-testid="nav-settings"]').click();
    await browser.$('[data-testid="check-readiness"]').waitForDisplayed({ timeout: 10_000 });
    await browser.$('[data-testid="check-readiness"]').click();
    const message = await browser.$('[data-testid="readiness-message"]');
    await message.waitForDisplayed({ timeout: 10_000 });
    const store = clinicpay("gateway", "readiness", "--to", "stripe");
    assert.equal(await message.getText(), store.message);
    const rows = await browser.$$('[data-testid="at-risk-row"]');
    assert.equal(rows.length, Math.min(20, store.patients_without_card.length));
    await shot(browser, "66-gateway-readiness");
    await accessible(browser, "gateway readiness");
  });
});

test("a failed subscription charge emails the patient in the words the billing manager set and previewed", async () => {
  for (const [k, v] of [
    ["smtp.host", "127.0.0.1"],
    ["smtp.port", SMTP_PORT],
    ["smtp.security", "none"],
    ["smtp.from", "Riverside Family Clinic <billing@riverside.example>"],
  ]) {
    clinicpayAs("it", "settings", "set", k, v);
  }
  clinicpay("settings", "set", "recovery.emails", "true");
  const patient = newPatient("Rita Recovery");
  try {
    await withApp(async (browser) => {
      await signIn(browser, "manager");
      // Settings → Payment recovery emails: the first notice in the clinic's own words, previewed, saved.
      await browser.$('[data-testid="nav-settings"]').click();
      const first = await browser.$('[data-testid="notice-template"][data-stage="first_failure"]');
      await first.waitForDisplayed({ timeout: 10_000 });
      await first.$("summary").click();
      const subject = await first.$('[data-testid="notice-subject"]');
      await subject.clearValue();
      await subject.setValue("Your payment for {description} did not go through");
      await first.$('[data-testid="notice-preview-button"]').click();
      const preview = await first.$('[data-testid="notice-preview"]');
      await preview.waitForDisplayed({ timeout: 5_000 });
      assert.match(await preview.getText(), /Your payment for Wellness membership — month did not go through/);
      await shot(browser, "64-recovery-email-preview");
      await first.$('[data-testid="notice-save"]').click();
      assert.match(await toast(browser), /First payment failure notice: saved\./);

      // The patient's card is declined when their plan is billed (by this desk's billing engine).
      await openPatient(browser, patient);
      await addNmiCard(browser, "4000000000000341");
      clinicpay("subscriptions", "create", "--plan", "Wellness membership", "--amount", "49", "--every", "month", String(patient.id));
      let email;
      await browser.waitUntil(
        () => {
          email = delivered().find((m) => m.includes(patient.email) && m.includes("did not go through"));
          return Boolean(email);
        },
        { timeout: 120_000, interval: 2_000, timeoutMsg: "no recovery email reached the mail server" },
      );
      const text = email.replaceAll("=\r\n", "").replaceAll("=\n", "").replaceAll("=3D", "=");
      assert.match(text, /Subject: Your payment for Wellness membership/);
      assert.match(text, /Hello Rita Recovery/);
      assert.match(text, /\$49\.00/);
      assert.match(text, /Visa ending in 0341/);
      // Sent once, and on the patient's activity.
      // Opened afresh (this desk's engine sent it after the profile was read).
      await browser.$('[data-testid="nav-payments"]').click();
      await browser.$('[data-testid="nav-patients"]').click();
      await openPatient(browser, patient);
      await tab(browser, "activity");
      await browser.waitUntil(async () => /Payment recovery email sent: First payment failure notice/.test(await browser.$("main").getText()), {
        timeout: 10_000,
        timeoutMsg: "the email is not in the patient's activity",
      });
      assert.equal(delivered().filter((m) => m.includes(patient.email) && m.includes("did not go through")).length, 1);
    });
  } finally {
    clinicpay("settings", "set", "recovery.emails", "false");
  }
});
