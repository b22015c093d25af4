// Issue 21 in the window: a subscription follows the clinic to its gateway and the card just saved pays
// its recovery; Manual Retry with the gateway choice and the fallback; Verify; the delete dialog names
// what a card pays; the expiring-cards dashboard's Service filter.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addNmiCard,
  clickWhenClear,
  clinicpay,
  enterNmiCard,
  fillCardDetails,
  newPatient,
  openPatient,
  shot,
  signIn,
  tab,
  toast,
  withApp,
} from "./harness.mjs";

/** A demo patient with an active subscription locked to Stripe (it was charged there), whose saved cards
 * are all on Stripe, with nothing in recovery. */
function stripeLockedPatient() {
  for (const sub of clinicpay("subscriptions", "list")) {
    if (sub.status !== "ACTIVE" || sub.locked_gateway !== "stripe") continue;
    const id = String(sub.patient_id);
    const cards = clinicpay("cards", "list", id);
    if (cards.length === 0 || !cards.every((c) => c.gateway === "stripe" && !c.expired)) continue;
    if (clinicpay("orders", "list", id).some((o) => o.recovery_status && o.recovery_status !== "RESOLVED")) continue;
    if (clinicpay("subscriptions", "list", id).length !== 1) continue;
    return { patient: clinicpay("patients", "show", id).patient, sub, cards };
  }
  throw new Error("the demo clinic has no Stripe-locked subscription whose patient has only Stripe cards");
}

/** Opens the patient afresh, so what the CLI changed meanwhile is read again. */
async function reopenPatient(browser, patient) {
  await browser.$('[data-testid="nav-payments"]').click();
  await browser.$('[data-testid="nav-patients"]').click();
  await openPatient(browser, patient);
}

/** ⋮ Delete on the card ending in `last4`, confirmed; answers what the dialog said the card pays. */
async function deleteCard(browser, last4) {
  const row = await browser.$(`[data-testid="card-row"][data-last4="${last4}"]`);
  await row.$('[data-testid="card-menu"]').click();
  await browser.$('[data-testid="menu-delete"]').click();
  const dialog = await browser.$('[data-testid="delete-dialog"]');
  await dialog.waitForDisplayed({ timeout: 5_000 });
  await browser.waitUntil(
    async () =>
      (await browser.$('[data-testid="card-dependents"]').isExisting()) ||
      (await browser.$('[data-testid="no-dependents"]').isExisting()),
    { timeout: 10_000, timeoutMsg: "the delete dialog never said what the card pays" },
  );
  const pays = (await browser.$('[data-testid="card-dependents"]').isExisting())
    ? await browser.$('[data-testid="card-dependents"]').getText()
    : "";
  await browser.$('[data-testid="confirm-delete"]').click();
  await dialog.waitForExist({ reverse: true, timeout: 15_000 });
  await toast(browser);
  return pays;
}

test("after the clinic moves to NMI, a Stripe-locked subscription asks for an NMI card and the card saved pays it there", async () => {
  // Document 003: the clinic now takes cards through NMI; this plan was charged on Stripe and is locked there.
  const { patient, sub, cards } = stripeLockedPatient();
  const id = String(patient.id);
  clinicpay("settings", "set", "fallback-gateway", "none");
  try {
    await withApp(async (browser) => {
      await signIn(browser, "manager");
      await openPatient(browser, patient);
      // The patient asks to remove the Stripe cards. The dialog names the plan the default pays first.
      for (const c of cards.filter((c) => !c.is_default)) await deleteCard(browser, c.last4);
      const pays = await deleteCard(browser, cards.find((c) => c.is_default).last4);
      assert.match(pays, new RegExp(`${sub.plan} .*: no other card would pay it`));
      assert.equal(clinicpay("cards", "list", id).length, 0);

      // A plan switch charges the difference now: with no card anywhere it waits for one, for NMI.
      const switched = clinicpay("subscriptions", "switch", String(sub.id), "--plan", "Chronic care plan", "--amount", "229");
      const payoff = switched.payoff_order;
      assert.ok(payoff, JSON.stringify(switched));
      assert.equal(clinicpay("orders", "show", String(payoff)).order.recovery_status, "NEEDS_PAYMENT_METHOD");

      await reopenPatient(browser, patient);
      await tab(browser, "orders");
      const row = await browser.$(`[data-testid="order-row"][data-order="${payoff}"]`);
      await row.waitForDisplayed({ timeout: 10_000 });
      // The order says where its next charge goes: nothing asks for a Stripe card any more.
      const next = await row.$('[data-testid="order-next-charge"]');
      assert.equal(await next.getText(), "Next charge: needs a card saved for NMI");
      assert.match(await next.getAttribute("title"), /No NMI payment method found/);

      // Manual Retry (document 003): the gateway staff choose, and what happens without a card there.
      await clickWhenClear(browser, await row.$('[data-testid="retry-order"]'));
      const dialog = await browser.$('[data-testid="retry-dialog"]');
      await dialog.waitForDisplayed({ timeout: 5_000 });
      assert.equal(await browser.$('[data-testid="retry-gateway-nmi"]').isSelected(), true, "the clinic's gateway first");
      assert.match(await browser.$('[data-testid="retry-fallback"]').getText(), /Only a card saved for NMI is charged/);
      await browser.$('[data-testid="retry-gateway-stripe"]').click();
      assert.match(await browser.$('[data-testid="retry-fallback"]').getText(), /Only a card saved for Stripe is charged/);
      await shot(browser, "60-retry-dialog");
      await browser.$('[data-testid="confirm-retry"]').click();
      const refused = await browser.$('[data-testid="retry-error"]');
      await refused.waitForDisplayed({ timeout: 10_000 });
      assert.match(await refused.getText(), /No Stripe payment method found/);
      await browser.keys("Escape");
      await dialog.waitForExist({ reverse: true, timeout: 5_000 });

      // What to check for this order gives the same answer.
      await clickWhenClear(browser, await row.$('[data-testid="check-order"]'));
      const locked = await browser.$('[data-testid="check"][data-name="Locked gateway"]');
      await browser.waitUntil(async () => /save a card for NMI/.test(await locked.getText()), {
        timeout: 10_000,
        timeoutMsg: "the Locked gateway check does not ask for an NMI card",
      });

      // The patient re-saves for NMI: the retry that follows charges that card, on NMI, and locks it there.
      assert.equal(await addNmiCard(browser, "4111111111111111"), "Your Visa ending in 1111 has been added to your account.");
      const [saved] = clinicpay("cards", "list", id);
      await browser.waitUntil(() => clinicpay("orders", "show", String(payoff)).order.status === "PAID", {
        timeout: 20_000,
        timeoutMsg: "the payoff was not paid after the NMI card was saved",
      });
      const paid = clinicpay("orders", "show", String(payoff)).payments.find((p) => p.status === "SUCCEEDED");
      assert.deepEqual([paid.gateway, paid.payment_method_id], ["nmi", saved.id]);
      assert.equal(clinicpay("subscriptions", "list", id)[0].locked_gateway, "nmi", "locked again, to NMI");
      await tab(browser, "activity");
      await browser.waitUntil(
        async () => /Subscription moved from Stripe to NMI, which paid it/.test(await browser.$("main").getText()),
        { timeout: 10_000, timeoutMsg: "the move is not in the patient's activity" },
      );
    });
  } finally {
    clinicpay("settings", "set", "fallback-gateway", "stripe");
  }
});

test("Verify checks a card with its gateway, and the delete dialog names what the card pays first", async () => {
  const patient = newPatient("Vera Verify");
  await withApp(async (browser) => {
    await signIn(browser);
    await openPatient(browser, patient);
    assert.equal(await addNmiCard(browser, "4111111111111111"), "Your Visa ending in 1111 has been added to your account.");
    const row = await browser.$('[data-testid="card-row"][data-last4="1111"]');
    await row.$('[data-testid="card-menu"]').click();
    await browser.$('[data-testid="menu-verify"]').click();
    assert.equal(await toast(browser), "Visa ending in 1111 was verified with NMI: the bank accepted it, and nothing was charged.");
    const verified = await row.$('[data-testid="card-verification"]');
    await verified.waitForDisplayed({ timeout: 10_000 });
    assert.match(await verified.getText(), /^Verified on /);
    assert.equal(await verified.getAttribute("data-outcome"), "verified");

    // A subscription and an unpaid invoice depend on the card: the dialog names them before Delete.
    clinicpay("subscriptions", "create", "--plan", "Physio package", "--amount", "35", "--every", "week", String(patient.id));
    clinicpay("invoices", "create", String(patient.id), "--amount", "80", "--description", "Visit");
    await reopenPatient(browser, patient);
    const again = await browser.$('[data-testid="card-row"][data-last4="1111"]');
    await again.$('[data-testid="card-menu"]').click();
    await browser.$('[data-testid="menu-delete"]').click();
    const list = await browser.$('[data-testid="card-dependents"]');
    await list.waitForDisplayed({ timeout: 10_000 });
    const named = await list.getText();
    assert.match(named, /Physio package \(\$35\.00 a week\): no other card would pay it/);
    assert.match(named, /invoice \d+ \(\$80\.00, Visit\): no other card would pay it/);
    await shot(browser, "61-delete-names-dependents");
    await browser.keys("Escape");
  });
  assert.equal(clinicpay("cards", "list", String(patient.id)).length, 1, "nothing was deleted");
});

test("the expiring-cards dashboard filters by the service that needs the card", async () => {
  await withApp(async (browser) => {
    await signIn(browser, "manager");
    await browser.$('[data-testid="nav-expiring"]').click();
    await browser.$('[data-testid="expiring-screen"]').waitForDisplayed({ timeout: 10_000 });
    await browser.$('[data-testid="window-90"]').click();
    const filter = await browser.$('[data-testid="service-filter"]');
    await browser.waitUntil(async () => (await filter.$$("option")).length > 1, {
      timeout: 10_000,
      timeoutMsg: "the Service filter lists no plans",
    });
    await filter.selectByAttribute("value", "Physio package");
    const expected = clinicpay("expiring", "--within", "90", "--service", "Physio package").cards;
    await browser.waitUntil(async () => (await browser.$$('[data-testid="expiring-row"]')).length === expected.length, {
      timeout: 10_000,
      timeoutMsg: `the dashboard does not show the ${expected.length} cards the CLI lists`,
    });
    for (const r of await browser.$$('[data-testid="expiring-row"]')) {
      assert.match(await r.getText(), /Physio package/);
    }
    await shot(browser, "62-expiring-by-service");
  });
});

/** Take a payment with a card typed in the card window (document 003: "a new tokenized card"). */
async function checkoutWithNewCard(browser, { amount, number, save }) {
  await tab(browser, "invoices");
  await browser.$('[data-testid="take-payment"]').click();
  const dialog = await browser.$('[data-testid="checkout-dialog"]');
  await dialog.waitForDisplayed({ timeout: 5_000 });
  await browser.$('input[name="checkout-amount"]').setValue(amount);
  await browser.$('[data-testid="checkout-new-card"]').click();
  await fillCardDetails(browser);
  if (save) await browser.$('[data-testid="checkout-save-card"]').click();
  await browser.$('[data-testid="confirm-checkout"]').click();
  await enterNmiCard(browser, number);
  await dialog.waitForExist({ reverse: true, timeout: 15_000 });
  return toast(browser);
}

test("a checkout with a new card charges it once, and keeps it only when Save for later is ticked", async () => {
  const patient = newPatient("Nell Newcard");
  const id = String(patient.id);
  await withApp(async (browser) => {
    await signIn(browser);
    await openPatient(browser, patient);
    // The patient has no saved card: the dialog offers the new card at once.
    assert.equal(await checkoutWithNewCard(browser, { amount: "25", number: "4111111111111111", save: false }),
      "Payment of $25.00 with Visa ending in 1111 succeeded.");
    assert.equal(clinicpay("cards", "list", id).length, 0, "not kept without Save for later");
    await shot(browser, "63-checkout-new-card");
    assert.equal(await checkoutWithNewCard(browser, { amount: "30", number: "5431111111111111", save: true }),
      "Payment of $30.00 with Mastercard ending in 1111 succeeded.");
    const kept = clinicpay("cards", "list", id);
    assert.deepEqual(kept.map((c) => [c.last4, c.country, c.is_default]), [["1111", "US", true]], "kept, with its country");
  });
  const paid = clinicpay("payments", "list", id).filter((p) => p.status === "SUCCEEDED").map((p) => p.amount.minor).sort();
  assert.deepEqual(paid, [2500, 3000]);
});
