// End-to-end: every front-desk task of the product documents in the real ClinicPay window, in training
// mode on the app's own simulators. Cards are typed into the gateways' hosted fields (frames served by
// the simulator), never into ClinicPay's page. The truth is read back through the `clinicpay` CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  SHOTS,
  accessible,
  clickClosing,
  clinicpay,
  fillCardDetails,
  inCardWindow,
  invokeIn,
  newPatient,
  openPatient,
  shot,
  signIn,
  tab,
  toast,
  enterNmiCard,
  withApp,
  withManagedConfig,
} from "./harness.mjs";

/** The desk window never runs a gateway's script: no Stripe.js, no Collect.js, no script from elsewhere. */
async function noGatewayScriptIn(browser) {
  const found = await browser.execute(() => ({
    policy: /script-src 'self';.*frame-src 'none'/.test(
      document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute("content") ?? "",
    ),
    stripe: typeof window.Stripe,
    collect: typeof window.CollectJS,
    foreign: Array.from(document.scripts)
      .map((s) => s.src)
      .filter((src) => src && !src.startsWith(location.origin)),
  }));
  assert.deepEqual(found, { policy: true, stripe: "undefined", collect: "undefined", foreign: [] });
}

/** Add payment method: the nickname in the desk window, the card in the card window. */
async function addCard(browser, number, { nickname = "", screenshot = null } = {}) {
  await browser.$('[data-testid="add-card"]').click();
  const dialog = await browser.$('[data-testid="add-card-dialog"]');
  await dialog.waitForDisplayed({ timeout: 5_000 });
  // Cardholder name and country start empty and are required on both gateways' forms.
  assert.equal(await browser.$('[data-testid="cardholder-name"]').getValue(), "");
  assert.equal(await browser.$('[data-testid="card-country"]').getValue(), "");
  await fillCardDetails(browser);
  if (nickname) await browser.$('input[name="nickname"]').setValue(nickname);
  if (screenshot) await accessible(browser, "add payment method");
  const save = await browser.$('[data-testid="save-card"]');
  await browser.waitUntil(() => save.isEnabled(), { timeout: 10_000, timeoutMsg: "Enter card never enabled" });
  await save.click();
  await enterNmiCard(browser, number, { screenshot });
  await dialog.waitForExist({ reverse: true, timeout: 15_000 });
  await noGatewayScriptIn(browser);
  return toast(browser);
}

async function openMenuOfCard(browser, last4) {
  const row = await browser.$(`[data-testid="card-row"][data-last4="${last4}"]`);
  await row.$('[data-testid="card-menu"]').click();
  return row;
}

test("cards through the hosted fields: first card default, set default, the default cannot be deleted, the last card warns", async () => {
  const patient = newPatient("Rosa Newcard");
  await withApp(async (browser) => {
    await signIn(browser);
    await openPatient(browser, patient);
    assert.ok(await browser.$('[data-testid="no-cards"]').isDisplayed(), "an empty state says what belongs there");
    await shot(browser, "10-no-cards");
    await accessible(browser, "patient without cards");

    // Document 000: "Your Visa ending in 1234 has been added to your account." and the first card is the default.
    assert.equal(
      await addCard(browser, "4111111111111111", { nickname: "Personal", screenshot: "11-add-card-hosted-fields" }),
      "Your Visa ending in 1111 has been added to your account.",
    );
    await browser.waitUntil(async () => (await browser.$$('[data-testid="card-row"]')).length === 1, { timeout: 5_000 });
    assert.equal(await browser.$('[data-testid="card-row"][data-last4="1111"]').getAttribute("data-default"), "yes");

    // A second card is added as non-default.
    assert.equal(await addCard(browser, "5431111111111111"), "Your Mastercard ending in 1111 has been added to your account.");
    await browser.waitUntil(async () => (await browser.$$('[data-testid="card-row"]')).length === 2, { timeout: 5_000 });
    const stored = clinicpay("cards", "list", String(patient.id));
    assert.deepEqual(
      stored.map((c) => [c.brand, c.last4, c.gateway, c.is_default]),
      [
        ["Visa", "1111", "nmi", true],
        ["Mastercard", "1111", "nmi", false],
      ],
    );
    await shot(browser, "12-two-cards");
    await accessible(browser, "payment methods");

    // The default's Delete is refused in the menu, with the document's reason.
    const visa = stored[0];
    const master = stored[1];
    await openMenuOfCard(browser, "1111");
    const rows = await browser.$$('[data-testid="card-row"]');
    const defaultRow = rows[0];
    assert.equal(await defaultRow.getAttribute("data-default"), "yes");
    assert.equal(await defaultRow.$('[data-testid="menu-delete"]').isEnabled(), false, "Delete is disabled on the default");
    assert.match(
      await defaultRow.$('[data-testid="delete-blocked-note"]').getText(),
      /set a different card as default first/,
    );
    await shot(browser, "13-default-cannot-be-deleted");
    await browser.keys("Escape");

    // Set as Default on the Mastercard: document 000's sentence, and the store agrees.
    await rows[1].$('[data-testid="card-menu"]').click();
    await rows[1].$('[data-testid="menu-set-default"]').click();
    assert.equal(await toast(browser), "Mastercard ending in 1111 is now your default payment method.");
    await browser.waitUntil(
      async () => clinicpay("cards", "list", String(patient.id)).find((c) => c.id === master.id).is_default,
      { timeout: 5_000 },
    );

    // Delete the (now non-default) Visa: the document's confirmation, no last-card warning yet.
    await browser.waitUntil(
      async () => (await browser.$('[data-testid="card-row"]').getAttribute("data-default")) === "yes",
      { timeout: 5_000 },
    );
    const visaRow = (await browser.$$('[data-testid="card-row"]'))[1];
    await visaRow.$('[data-testid="card-menu"]').click();
    await visaRow.$('[data-testid="menu-delete"]').click();
    const dialog = await browser.$('[data-testid="delete-dialog"]');
    await dialog.waitForDisplayed({ timeout: 5_000 });
    assert.match(await dialog.getText(), /Are you sure you want to delete this payment method\?/);
    assert.equal(await browser.$('[data-testid="last-card-warning"]').isExisting(), false);
    assert.equal(await browser.$('[data-testid="confirm-delete"]').getText(), "Delete Payment Method");
    await browser.$('[data-testid="confirm-delete"]').click();
    assert.equal(await toast(browser), "Visa ending in 1111 has been deleted.");
    assert.deepEqual(clinicpay("cards", "list", String(patient.id)).map((c) => c.id), [master.id]);
    assert.notEqual(visa.id, master.id);

    // The last card: the dialog warns before anything is deleted.
    await browser.waitUntil(async () => (await browser.$$('[data-testid="card-row"]')).length === 1, { timeout: 5_000 });
    await openMenuOfCard(browser, "1111");
    await browser.$('[data-testid="menu-delete"]').click();
    const warning = await browser.$('[data-testid="last-card-warning"]');
    await warning.waitForDisplayed({ timeout: 5_000 });
    assert.match(await warning.getText(), /only payment method/);
    await shot(browser, "14-last-card-warning");
    await accessible(browser, "delete the last card");
    await browser.$('[data-testid="confirm-delete"]').click();
    assert.match(await toast(browser), /has been deleted\. The patient has no saved card now/);
    assert.deepEqual(clinicpay("cards", "list", String(patient.id)), []);
  });
});

/** Pays `invoice` in the window and returns the ms from the click on Charge to the result shown. */
async function payInvoice(browser, invoice) {
  await tab(browser, "invoices");
  const row = await browser.$(`[data-testid="invoice-row"][data-invoice="${invoice.id}"]`);
  await row.waitForDisplayed({ timeout: 5_000 });
  await row.$('[data-testid="pay-invoice"]').click();
  await browser.$('[data-testid="pay-dialog"]').waitForDisplayed({ timeout: 5_000 });
  const started = Date.now();
  await browser.$('[data-testid="confirm-pay"]').click();
  await browser.waitUntil(
    async () =>
      (await browser.$('[data-testid="toast"]').isExisting()) || (await browser.$('[data-testid="pay-error"]').isExisting()),
    { timeout: 20_000, interval: 10, timeoutMsg: "no result after Pay" },
  );
  return Date.now() - started;
}

test("pay an invoice, a decline with the gateway's message, and a refund on the gateway that took the payment", async () => {
  const patient = newPatient("Omar Payer");
  const timings = [];
  let inPage = [];
  await withApp(async (browser) => {
    await signIn(browser);
    await openPatient(browser, patient);
    await addCard(browser, "4111111111111111");
    const invoice = clinicpay("invoices", "create", String(patient.id), "--amount", "80.00", "--description", "Physiotherapy session");
    await tab(browser, "cards");
    await tab(browser, "invoices");
    // The tab reads the store when the profile loads: open the patient again to see the new invoice.
    await openPatient(browser, patient);
    await tab(browser, "invoices");
    await shot(browser, "20-invoices");
    await accessible(browser, "invoices");

    timings.push(await payInvoice(browser, invoice));
    assert.equal(await toast(browser), "Payment of $80.00 with Visa ending in 1111 succeeded.");
    const paid = clinicpay("invoices", "list", String(patient.id)).find((i) => i.id === invoice.id);
    assert.equal(paid.status, "PAID");
    await browser.waitUntil(
      async () =>
        (await browser.$(`[data-testid="invoice-row"][data-invoice="${invoice.id}"] [data-testid="invoice-status"]`).getText()) ===
        "Paid",
      { timeout: 5_000 },
    );

    // More invoices for the timing figures: each a fresh charge through the simulator.
    for (let i = 0; i < 9; i++) {
      const more = clinicpay("invoices", "create", String(patient.id), "--amount", `${20 + i}.00`, "--description", "Lab work");
      await openPatient(browser, patient);
      timings.push(await payInvoice(browser, more));
      assert.match(await toast(browser), /succeeded\.$/);
    }

    // Take a payment now (checkout) with the saved card.
    await tab(browser, "invoices");
    await browser.$('[data-testid="take-payment"]').click();
    await browser.$('[data-testid="checkout-dialog"]').waitForDisplayed({ timeout: 5_000 });
    await browser.$('input[name="checkout-amount"]').setValue("15");
    await browser.$('[data-testid="confirm-checkout"]').click();
    assert.equal(await toast(browser), "Payment of $15.00 with Visa ending in 1111 succeeded.");
    assert.ok(
      clinicpay("payments", "list", String(patient.id)).some((p) => p.amount.minor === 1500 && p.status === "SUCCEEDED"),
      "the checkout payment is in the store",
    );

    // A decline: NMI test mode declines amounts below 1.00; the gateway's words stay visible.
    const small = clinicpay("invoices", "create", String(patient.id), "--amount", "0.50", "--description", "Copay");
    await openPatient(browser, patient);
    await tab(browser, "invoices");
    timings.push(await payInvoice(browser, small));
    const error = await browser.$('[data-testid="pay-error"]');
    await error.waitForDisplayed({ timeout: 5_000 });
    assert.equal(await error.getAttribute("data-code"), "declined");
    assert.match(
      await error.getText(),
      /^NMI declined Visa ending in 1111 \(payment \d+\)\. The bank declined the charge\. Ask the patient for another card, or try this one again later\. \(NMI 200: DECLINE\) The invoice stays unpaid\.$/,
    );
    await shot(browser, "21-declined-with-gateway-message");
    await accessible(browser, "pay dialog with a decline");
    await browser.$('[data-testid="pay-dialog"] button[aria-label="Close"]').click();
    assert.equal(clinicpay("invoices", "list", String(patient.id)).find((i) => i.id === small.id).status, "OPEN");

    // The Payments tab shows the decline with the gateway's message; the checks name it too.
    await openPatient(browser, patient);
    await tab(browser, "payments");
    const failed = await browser.$('[data-testid="payment-row"] [data-testid="payment-status"][data-status="FAILED"]');
    await failed.waitForDisplayed({ timeout: 5_000 });
    const checkError = await browser.$('[data-testid="check"][data-name="Processor/gateway error"]');
    assert.equal(await checkError.getAttribute("data-level"), "action_needed");
    assert.match(await checkError.getText(), /NMI said: "DECLINE/);
    await shot(browser, "22-payments");
    await accessible(browser, "payments");

    // The window's own click-to-result times (performance.now() around the command).
    inPage = await browser.execute(() => window.__clinicpayPayTimings ?? []);
    assert.equal(inPage.length, timings.length, "every Pay click was timed in the window");

    // Refund: the clinic moves to Stripe, and the refund still goes back through NMI, which took it.
    clinicpay("settings", "set", "fallback-gateway", "none");
    clinicpay("settings", "set", "gateway", "stripe");
    try {
      const payment = clinicpay("payments", "list", String(patient.id)).find(
        (p) => p.invoice_id === invoice.id && p.status === "SUCCEEDED",
      );
      const row = await browser.$(`[data-testid="payment-row"][data-payment="${payment.id}"]`);
      await row.$('[data-testid="refund-payment"]').click();
      const dialog = await browser.$('[data-testid="refund-dialog"]');
      await dialog.waitForDisplayed({ timeout: 5_000 });
      assert.equal(await browser.$('[data-testid="confirm-refund"]').getText(), "Refund through NMI");
      await browser.$('input[name="refund-amount"]').setValue("30.00");
      await shot(browser, "23-refund");
      await accessible(browser, "refund dialog");
      await browser.$('[data-testid="confirm-refund"]').click();
      assert.equal(await toast(browser), "Refunded $30.00 to the patient through NMI. $50.00 is left to refund.");
      const refunds = clinicpay("processor-log", "--patient", String(patient.id)).filter((e) => e.operation === "refund");
      assert.equal(refunds.length, 1, "one refund call, to NMI");
      assert.equal(refunds[0].gateway, "nmi");
    } finally {
      clinicpay("settings", "set", "gateway", "nmi");
      clinicpay("settings", "set", "fallback-gateway", "stripe");
    }
  });
  const pct = (list, p) => {
    const sorted = [...list].sort((a, b) => a - b);
    return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]);
  };
  const figures = [
    `Pay click to result shown, measured in the window (simulator, ${inPage.length} payments): p50 ${pct(inPage, 50)} ms, p95 ${pct(inPage, 95)} ms`,
    `the same seen through WebDriver (adds its polling): p50 ${pct(timings, 50)} ms, p95 ${pct(timings, 95)} ms`,
  ];
  for (const f of figures) console.log(`# ${f}`);
  writeFileSync(join(SHOTS, "pay-timings.txt"), `${figures.join("\n")}\n`);
});

test("a clinic on Stripe: the card Element saves a card with name and country, and a card the bank refuses is not saved", async () => {
  clinicpay("settings", "set", "fallback-gateway", "none");
  clinicpay("settings", "set", "gateway", "stripe");
  const patient = newPatient("Ines Stripe");
  // Elements as a Windows desk has them (its window is HTTPS): on this Linux desk only because IT keeps
  // them and the training clinic's key is a test key, which Stripe.js takes off HTTPS.
  try {
    await withManagedConfig('[desk]\nstripe-card-entry = "elements"\n', () => withApp(async (browser) => {
      await signIn(browser);
      assert.equal(await browser.$('[data-testid="gateway-chip"]').getText(), "Taking cards through Stripe");
      await openPatient(browser, patient);

      async function typeCard(number, { screenshot = null } = {}) {
        await browser.$('[data-testid="add-card"]').click();
        await browser.$('[data-testid="add-card-dialog"]').waitForDisplayed({ timeout: 5_000 });
        await fillCardDetails(browser, { country: "CA" });
        const save = await browser.$('[data-testid="save-card"]');
        await browser.waitUntil(() => save.isEnabled(), { timeout: 10_000 });
        await save.click();
        await inCardWindow(browser, async () => {
          const frame = await browser.$('[data-testid="card-element"] iframe');
          await frame.waitForDisplayed({ timeout: 15_000 });
          await browser.waitUntil(async () => (await browser.$('[data-testid="use-card"]').isEnabled()), { timeout: 10_000 });
          // One Element for number, expiry and CVC, as Stripe's card Element: Tab moves inside it.
          await frame.click();
          for (const key of number) await browser.keys(key);
          await browser.keys("Tab");
          for (const key of "1230") await browser.keys(key);
          await browser.keys("Tab");
          for (const key of "123") await browser.keys(key);
          if (screenshot) {
            await shot(browser, screenshot);
            await accessible(browser, "card window (Stripe)");
          }
          await clickClosing(browser, '[data-testid="use-card"]');
        });
      }

      await typeCard("4242424242424242", { screenshot: "15-stripe-card-element" });
      assert.equal(await toast(browser), "Your Visa ending in 4242 has been added to your account.");
      await noGatewayScriptIn(browser);
      const [card] = clinicpay("cards", "list", String(patient.id));
      assert.deepEqual([card.gateway, card.last4, card.country, card.is_default], ["stripe", "4242", "CA", true]);

      // Stripe's test card for insufficient funds is refused when it is set up: nothing is saved.
      await typeCard("4000000000009995");
      const error = await browser.$('[data-testid="add-card-error"]');
      await error.waitForDisplayed({ timeout: 15_000 });
      assert.match(await error.getText(), /Stripe declined this card, so it was not saved\..*insufficient funds/);
      await shot(browser, "16-stripe-card-refused");
      assert.equal(clinicpay("cards", "list", String(patient.id)).length, 1);
    }));
  } finally {
    clinicpay("settings", "set", "gateway", "nmi");
    clinicpay("settings", "set", "fallback-gateway", "stripe");
  }
});

/** A demo patient with saved cards, every one on Stripe and none expired, and nothing in recovery. */
function stripeOnlyPatient() {
  for (let id = 1; id <= 300; id++) {
    const cards = clinicpay("cards", "list", String(id));
    if (cards.length === 0 || !cards.every((c) => c.gateway === "stripe" && !c.expired)) continue;
    if (clinicpay("orders", "list", String(id)).some((o) => o.recovery_status)) continue;
    if (clinicpay("subscriptions", "list", String(id)).length > 0) continue;
    return clinicpay("patients", "show", String(id)).patient;
  }
  throw new Error("the demo clinic has no patient whose cards are all on Stripe");
}

test("the checks name the gateway mismatch, and a card re-saved for NMI resolves the recovery order", async () => {
  // A demo patient whose cards are all on Stripe, in a clinic that now takes cards through NMI.
  const patient = stripeOnlyPatient();
  clinicpay("subscriptions", "create", "--plan", "Physio monthly", "--amount", "49", "--every", "month", String(patient.id));
  const pass = clinicpay("worker", "--once");
  assert.ok(pass.needs_payment_method >= 1, JSON.stringify(pass));
  const order = clinicpay("orders", "list", String(patient.id))[0];
  assert.equal(order.recovery_status, "NEEDS_PAYMENT_METHOD");

  await withApp(async (browser) => {
    await signIn(browser);
    await openPatient(browser, patient);
    const method = await browser.$('[data-testid="check"][data-name="Method gateway"]');
    await method.waitForDisplayed({ timeout: 5_000 });
    assert.equal(await method.getAttribute("data-level"), "action_needed");
    assert.match(await method.getText(), /Gateway mismatch: every saved card is on Stripe, but the clinic now takes cards through NMI/);
    assert.match(await method.getText(), /Ask the patient to re-save the card for NMI\./);
    assert.equal(await browser.$('[data-testid="recovery-status"]').getText(), "Needs payment method");
    await shot(browser, "30-what-to-check-gateway-mismatch");
    await accessible(browser, "what to check");

    // Escalate: the report is copied and saved as a PDF with document 003's details.
    await browser.$('[data-testid="escalate"]').click();
    const saved = await toast(browser);
    assert.match(saved, /saved as .*\.pdf\.$/);
    const pdf = saved.match(/saved as (.*\.pdf)\.$/)[1];
    assert.equal(readFileSync(pdf).subarray(0, 5).toString(), "%PDF-");

    // The check's own action opens Add payment method; the card is re-saved for NMI.
    await method.$('[data-testid="check-action-add_card"]').click();
    await fillCardDetails(browser);
    await browser.$('[data-testid="save-card"]').click();
    await enterNmiCard(browser, "4111111111111111");
    assert.equal(await toast(browser), "Your Visa ending in 1111 has been added to your account.");

    // The app retries the recovery order as soon as the card is saved; the store and the window agree.
    await browser.waitUntil(() => clinicpay("orders", "show", String(order.id)).order.recovery_status === "RESOLVED", {
      timeout: 15_000,
      timeoutMsg: "the recovery order was not resolved after the card was re-saved",
    });
    await browser.waitUntil(
      async () => (await method.getAttribute("data-level").catch(() => "")) !== "action_needed" ||
        (await browser.$('[data-testid="check"][data-name="Recovery status"]').getAttribute("data-level")) === "ok",
      { timeout: 10_000 },
    );
    await browser.waitUntil(
      async () => (await browser.$('[data-testid="check"][data-name="Recovery status"]').getAttribute("data-level")) === "ok",
      { timeout: 10_000, timeoutMsg: "the panel did not turn green for recovery" },
    );
    await tab(browser, "orders");
    const recoveryChip = await browser.$(`[data-testid="order-row"][data-order="${order.id}"] [data-testid="order-recovery"]`);
    await recoveryChip.waitForDisplayed({ timeout: 5_000 });
    await browser.waitUntil(async () => (await recoveryChip.getText()) === "Resolved", {
      timeout: 5_000,
      timeoutMsg: `order ${order.id} still shows ${await recoveryChip.getText()}`,
    });
    await shot(browser, "31-recovery-resolved");
    await accessible(browser, "orders and recovery");
  });
});

test("the clinic-wide screens: failed payments, recovery, processor log and settings, as a billing manager", async () => {
  await withApp(async (browser) => {
    await signIn(browser, "manager");
    for (const [nav, screen, name] of [
      ["nav-payments", "payments-screen", "39-payments"],
      ["nav-failed", "failed-payments-screen", "40-failed-payments"],
      ["nav-recovery", "recovery-screen", "41-recovery"],
      ["nav-log", "processor-log-screen", "42-processor-log"],
      ["nav-settings", "settings-screen", "43-settings"],
    ]) {
      await browser.$(`[data-testid="${nav}"]`).click();
      await browser.$(`[data-testid="${screen}"]`).waitForDisplayed({ timeout: 10_000 });
      await shot(browser, name);
      await accessible(browser, screen);
      if (screen === "processor-log-screen") {
        const text = await browser.$(`[data-testid="${screen}"]`).getText();
        assert.ok(!/4111111111111111|security_key=[^&\s*]/.test(text), "no card number or key in the processor log");
      }
    }
    // Long work: the manager's recovery sweep shows counts and ends with a summary the store agrees with.
    await browser.$('[data-testid="nav-recovery"]').click();
    const open = clinicpay("orders", "list").filter(
      (o) => o.recovery_status === "NEEDS_PAYMENT_METHOD" || o.recovery_status === "RETRY_SCHEDULED",
    ).length;
    await browser.$('[data-testid="start-sweep"]').click();
    const summary = await toast(browser);
    assert.match(summary, /^Sweep (finished|cancelled)/);
    const paid = Number(summary.match(/(\d+) of (\d+) orders paid|: (\d+) paid/)?.[1] ?? -1);
    assert.ok(paid >= 0, summary);
    const stillOpen = clinicpay("orders", "list").filter(
      (o) => o.recovery_status === "NEEDS_PAYMENT_METHOD" || o.recovery_status === "RETRY_SCHEDULED",
    ).length;
    assert.equal(stillOpen, open - paid, `${summary} (open before: ${open}, after: ${stillOpen})`);
    await shot(browser, "44-recovery-after-sweep");

    // A bad setting is refused with what to do, and nothing changes.
    await browser.$('[data-testid="nav-settings"]').click();
    const row = await browser.$('[data-testid="setting-row"][data-key="desk.lock-after-minutes"]');
    await row.waitForDisplayed({ timeout: 5_000 });
    const input = await row.$("input");
    await input.clearValue();
    await input.setValue("600");
    await row.$('button[type="submit"]').click();
    const error = await row.$(".form-error");
    await error.waitForDisplayed({ timeout: 5_000 });
    assert.match(await error.getText(), /from 0 \(never lock\) to 240/);
    const lock = clinicpay("settings", "show").find((v) => v.key === "desk.lock-after-minutes");
    assert.equal(lock.value, "5", "the refused value was not saved");
  });
});

test("a front-desk person is not offered what the role may not do, and the desk locks for a quick switch", async () => {
  await withApp(async (browser) => {
    await signIn(browser, "frontdesk");
    await browser.$('[data-testid="nav-settings"]').click();
    await browser.$('[data-testid="settings-screen"]').waitForDisplayed({ timeout: 5_000 });
    assert.equal((await browser.$$('[data-testid="settings-screen"] .settings-table input')).length, 0, "no setting can be edited");
    // "?" lists the keyboard shortcuts; Esc closes the list.
    await browser.$("body").click();
    await browser.keys("?");
    const list = await browser.$('[data-testid="shortcuts"]');
    await list.waitForDisplayed({ timeout: 5_000 });
    assert.match(await list.getText(), /Search patients from anywhere/);
    await browser.keys("Escape");
    await list.waitForExist({ reverse: true, timeout: 5_000 });

    await browser.$('[data-testid="switch-user"]').click();
    const locked = await browser.$('[data-testid="locked-as"]');
    await locked.waitForDisplayed({ timeout: 5_000 });
    assert.match(await locked.getText(), /was signed in/);
    await shot(browser, "50-desk-locked");
    await accessible(browser, "lock screen");
    // A colleague signs in on the locked desk.
    const user = await browser.$('input[name="username"]');
    await user.clearValue();
    await signIn(browser, "manager");
    assert.match(await browser.$('[data-testid="signed-in-as"]').getText(), /Billing Manager/);
  });
});

test("the gateways' scripts run only in the card window, which can do nothing but hand back a token", async () => {
  const patient = newPatient("Carl Cardwindow");
  await withApp(async (browser) => {
    await signIn(browser);
    await openPatient(browser, patient);
    await noGatewayScriptIn(browser);
    await browser.$('[data-testid="add-card"]').click();
    await browser.$('[data-testid="add-card-dialog"]').waitForDisplayed({ timeout: 5_000 });
    await fillCardDetails(browser);
    const save = await browser.$('[data-testid="save-card"]');
    await browser.waitUntil(() => save.isEnabled(), { timeout: 10_000 });
    await save.click();
    await inCardWindow(browser, async () => {
      await browser.$('[data-testid="collect-ccnumber"] iframe[data-ready="true"]').waitForDisplayed({ timeout: 15_000 });
      // A script in this window (the gateway's, or one it loaded) cannot drive ClinicPay: Tauri refuses
      // every command but the card window's own before it runs.
      for (const [cmd, args] of [
        ["patient_profile", { patientId: patient.id }],
        ["refund_payment", { paymentId: 1, amount: "1.00" }],
        ["set_setting", { key: "nmi.api-base", value: "https://evil.example" }],
        ["add_card_through_form", { patientId: patient.id, details: { cardholder_name: null, country: null, nickname: null } }],
        ["plugin:event|listen", { event: "data-changed", target: { kind: "Any" }, handler: 1 }],
      ]) {
        assert.match(await invokeIn(browser, cmd, args), /not allowed/i, `${cmd} from the card window`);
      }
      // Its own command takes only a token of its gateway's shape; a card number is refused unrepeated.
      const pasted = await invokeIn(browser, "hand_over_card_token", { token: "4111111111111111" });
      assert.match(pasted, /card number/);
      assert.ok(!pasted.includes("4111"), pasted);
      await clickClosing(browser, "#cancel-card");
    });
    // Cancelled: nothing saved, the dialog is still there for another try.
    await browser.$('[data-testid="add-card-dialog"]').waitForDisplayed({ timeout: 5_000 });
    assert.equal(clinicpay("cards", "list", String(patient.id)).length, 0);
    // The desk window cannot pose as the card window, and keeps its own commands.
    assert.match(await invokeIn(browser, "hand_over_card_token", { token: "pm_1Hclinicpay0abcdefghij" }), /not allowed/i);
    assert.match(await invokeIn(browser, "card_form_config"), /not allowed/i);
    assert.equal(await invokeIn(browser, "search_patients", { query: "Cardwindow" }), "allowed");
  });
});
