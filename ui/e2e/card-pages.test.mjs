// Issue 22 in the window: on this Linux desk (its page is tauri://localhost, where live Stripe.js will
// not start) a Stripe card is typed on Stripe's own page, Checkout in setup mode, in a window of its own
// (here the training simulator's page, decided exactly as a live desk would decide it); and a secure card
// link emailed to the patient, completed on that page, pays their recovery order with nobody at the desk.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  clickClosing,
  clinicpay,
  clinicpayAs,
  fillCardDetails,
  inCardWindow,
  newPatient,
  openPatient,
  required,
  shot,
  signIn,
  tab,
  toast,
  typeOnStripePage,
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

async function onStripe(body) {
  clinicpay("settings", "set", "fallback-gateway", "none");
  clinicpay("settings", "set", "gateway", "stripe");
  try {
    await body();
  } finally {
    clinicpay("settings", "set", "gateway", "nmi");
    clinicpay("settings", "set", "fallback-gateway", "stripe");
  }
}

/** Add payment method as far as Stripe's page: the dialog says where the card is typed. */
async function openStripePage(browser) {
  await browser.$('[data-testid="add-card"]').click();
  await browser.$('[data-testid="add-card-dialog"]').waitForDisplayed({ timeout: 5_000 });
  const way = await browser.$('[data-testid="card-entry-way"]');
  await browser.waitUntil(async () => /secure page opens in a new window/.test(await way.getText()), {
    timeout: 10_000,
    timeoutMsg: "the dialog did not say Stripe's page opens",
  });
  await fillCardDetails(browser, { country: "CA" });
  const save = await browser.$('[data-testid="save-card"]');
  await browser.waitUntil(() => save.isEnabled(), { timeout: 10_000 });
  assert.equal(await save.getText(), "Open Stripe's page…");
  await save.click();
}

test("a Stripe card is typed on Stripe's own page in its own window: a refused card is shown there, Back saves nothing, a good card is saved", async () => {
  const patient = newPatient("Paula Page");
  await onStripe(() =>
    withApp(async (browser) => {
      await signIn(browser);
      await openPatient(browser, patient);

      // Back on Stripe's page: the window closes, nothing is saved, the dialog stays for another try.
      await openStripePage(browser);
      await inCardWindow(browser, async () => {
        await browser.$('[data-testid="checkout-card-number"]').waitForDisplayed({ timeout: 15_000 });
        // The page's window has no ClinicPay command at all: no capability names it.
        const ipc = await browser.execute(() => typeof window.__TAURI_INTERNALS__?.invoke);
        if (ipc === "function") {
          const answer = await browser.executeAsync((done) =>
            window.__TAURI_INTERNALS__.invoke("search_patients", { query: "Paula" }).then(
              () => done("allowed"),
              (e) => done(String(typeof e === "string" ? e : JSON.stringify(e))),
            ),
          );
          assert.notEqual(answer, "allowed", "Stripe's page must not reach ClinicPay's commands");
        }
        await clickClosing(browser, '[data-testid="checkout-back"]');
      });
      await browser.$('[data-testid="add-card-dialog"]').waitForDisplayed({ timeout: 5_000 });
      assert.equal(clinicpay("cards", "list", String(patient.id)).length, 0);

      // The bank refuses the first card: Stripe's page says so and stays; the second is saved.
      await browser.$('[data-testid="save-card"]').click();
      await inCardWindow(browser, async () => {
        await typeOnStripePage(browser, "4000000000000002");
        await browser.$('[data-testid="checkout-submit"]').click();
        const refused = await browser.$('[data-testid="checkout-error"]');
        await refused.waitForDisplayed({ timeout: 15_000 });
        assert.equal(await refused.getText(), "Your card was declined.");
        await shot(browser, "70-stripe-page-card-refused");
        await typeOnStripePage(browser, "4242424242424242");
        await shot(browser, "71-stripe-page");
        await clickClosing(browser, '[data-testid="checkout-submit"]');
      });
      assert.equal(await toast(browser), "Your Visa ending in 4242 has been added to your account.");
      const [card, ...more] = clinicpay("cards", "list", String(patient.id));
      assert.equal(more.length, 0, "one card, saved once");
      assert.deepEqual([card.gateway, card.last4, card.country, card.is_default], ["stripe", "4242", "CA", true]);
    }),
  );
});

test("a secure card link emailed to the patient and completed on Stripe's page pays the recovery order without anyone at the desk", async () => {
  for (const [k, v] of [
    ["smtp.host", "127.0.0.1"],
    ["smtp.port", SMTP_PORT],
    ["smtp.security", "none"],
    ["smtp.from", "Riverside Family Clinic <billing@riverside.example>"],
  ]) {
    clinicpayAs("it", "settings", "set", k, v);
  }
  const patient = newPatient("Lina Link");
  await onStripe(() =>
    withApp(async (browser) => {
      await signIn(browser, "manager");
      await openPatient(browser, patient);
      // The patient's card attaches, but the bank declines its charges: their plan goes to recovery
      // (billed by this desk's engine).
      await openStripePage(browser);
      await inCardWindow(browser, async () => {
        await typeOnStripePage(browser, "4000000000000341");
        await clickClosing(browser, '[data-testid="checkout-submit"]');
      });
      assert.match(await toast(browser), /Visa ending in 0341 has been added/);
      clinicpay("subscriptions", "create", "--plan", "Wellness membership", "--amount", "49", "--every", "month", String(patient.id));
      let order;
      await browser.waitUntil(
        () => {
          order = clinicpay("orders", "list", String(patient.id))[0];
          return order?.recovery_status === "RETRY_SCHEDULED";
        },
        { timeout: 120_000, interval: 2_000, timeoutMsg: "the plan's first charge did not fail into recovery" },
      );

      // Orders & recovery → Send a secure card link → Email the link.
      await browser.$('[data-testid="nav-payments"]').click();
      await browser.$('[data-testid="nav-patients"]').click();
      await openPatient(browser, patient);
      await tab(browser, "orders");
      await browser.$('[data-testid="order-card-link"]').click();
      const dialog = await browser.$('[data-testid="card-link-dialog"]');
      await dialog.waitForDisplayed({ timeout: 5_000 });
      assert.match(await dialog.getText(), new RegExp(`order #${order.id} among them`));
      await shot(browser, "72-send-card-link");
      await browser.$('[data-testid="card-link-send"]').click();
      assert.equal(await toast(browser), `The secure card link was emailed to ${patient.email}.`);

      // The patient reads the email and opens the link in their own browser (here: an HTTP client).
      let email;
      await browser.waitUntil(
        () => {
          email = delivered().find((m) => m.includes(patient.email) && m.includes("Save your card"));
          return Boolean(email);
        },
        { timeout: 30_000, interval: 1_000, timeoutMsg: "no card link email reached the mail server" },
      );
      const text = email.replaceAll("=\r\n", "").replaceAll("=\n", "").replaceAll("=3D", "=");
      assert.match(text, /Hello Lina Link/);
      const link = text.match(/http:\/\/127\.0\.0\.1:\d+\/stripe\/checkout\/cs_test_\w+/)?.[0];
      assert.ok(link, `a link in the email:\n${text}`);
      const page = await fetch(link);
      assert.match(await page.text(), /Set up a payment method/);
      const saved = await fetch(link, {
        method: "POST",
        body: new URLSearchParams({ cardnumber: "4242 4242 4242 4242", exp: "12 / 30", cvc: "123" }),
        redirect: "manual",
      });
      assert.equal(saved.status, 303, "Stripe's page sends the patient on once the card is saved");
      const thanks = await fetch(new URL(saved.headers.get("location"), link));
      assert.match(await thanks.text(), /your card is saved/);

      // This desk's billing engine finds the completed page, saves the card and pays the order with it.
      await browser.waitUntil(
        () => clinicpay("orders", "list", String(patient.id))[0]?.status === "PAID",
        { timeout: 120_000, interval: 2_000, timeoutMsg: "the recovery order was not paid by the card from the link" },
      );
      const cards = clinicpay("cards", "list", String(patient.id));
      const fromLink = cards.find((c) => c.last4 === "4242");
      assert.ok(fromLink?.is_default, "the card that paid is the default");

      // The profile shows the link, completed.
      await browser.$('[data-testid="nav-payments"]').click();
      await browser.$('[data-testid="nav-patients"]').click();
      await openPatient(browser, patient);
      const shown = await browser.$('[data-testid="card-link"]');
      await shown.waitForDisplayed({ timeout: 10_000 });
      assert.equal(await shown.getAttribute("data-status"), "completed");
      assert.match(await shown.getText(), new RegExp(`Card saved · emailed to ${patient.email.replaceAll(".", "\\.")}`));
      await shot(browser, "73-card-link-completed");
    }),
  );
});
