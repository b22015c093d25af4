// Shared by the end-to-end tests of the real ClinicPay window: the app under tauri-driver, the CLI as the
// source of truth, screenshots, axe-core, and the small steps every scenario takes.
import { after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { remote } from "webdriverio";

export const APP = required("CLINICPAY_E2E_APP");
export const DB = required("CLINICPAY_E2E_DB");
export const CLI = required("CLINICPAY_E2E_CLI");
export const SHOTS = process.env.CLINICPAY_E2E_SCREENSHOTS ?? "e2e-screenshots";
export const REPORTS = process.env.CLINICPAY_REPORTS_DIR ?? join(SHOTS, "reports");
mkdirSync(SHOTS, { recursive: true });
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the end-to-end tests through scripts/e2e.sh`);
  return v;
}

/** The store's answer, through the CLI contract, as the billing manager. */
export function clinicpay(...args) {
  return clinicpayAs("manager", ...args);
}

/** The same as another of the demo clinic's staff (all have the password `demo`). */
export function clinicpayAs(who, ...args) {
  return JSON.parse(
    execFileSync(CLI, ["--db", DB, "--as", who, "--json", ...args], {
      encoding: "utf8",
      env: { ...process.env, CLINICPAY_PASSWORD: "demo" },
    }),
  );
}


let patientCounter = 0;
/** A new patient, made through the CLI as the front desk would with the patient on the phone. */
export function newPatient(name) {
  patientCounter += 1;
  const email = `${name.toLowerCase().replaceAll(" ", ".")}.${Date.now()}${patientCounter}@example.com`;
  return clinicpay("patients", "add", "--name", name, "--email", email);
}

export async function withApp(body, { db = DB } = {}) {
  const browser = await remote({
    hostname: "127.0.0.1",
    port: Number(process.env.CLINICPAY_E2E_DRIVER_PORT ?? 4444),
    logLevel: "error",
    connectionRetryTimeout: 60_000,
    capabilities: {
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application: APP, args: ["--db", db] },
    },
  });
  try {
    await browser.setWindowSize(1280, 800);
    await body(browser);
  } catch (e) {
    await shot(browser, `failure-${Date.now()}`).catch(() => {});
    throw e;
  } finally {
    await browser.deleteSession().catch(() => {});
  }
}

export async function shot(browser, name) {
  await browser.saveScreenshot(join(SHOTS, `${name}.png`));
}

/** Serious or critical accessibility violations on the screen as it is (axe-core, WCAG A/AA). */
const axeFindings = [];
export async function accessible(browser, screen) {
  // axe-core runs as WebDriver's own script: the page's CSP (rightly) forbids evaluating strings.
  const violations = await browser.executeAsync(`${AXE}
;var done = arguments[arguments.length - 1];
window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
  .then(function (r) {
    done(r.violations
      .filter(function (v) { return v.impact === "serious" || v.impact === "critical"; })
      .map(function (v) { return v.id + ": " + v.help + " (" + v.nodes.map(function (n) { return n.target.join(" "); }).join(", ") + ")"; }));
  })
  .catch(function (e) { done(["axe could not run: " + e]); });`);
  axeFindings.push({ screen, violations });
  assert.deepEqual(violations, [], `accessibility on ${screen}`);
}

/** Waits for the sign-in form the app's scripts draw. The page is served with a pre-rendered copy that
 * React replaces once its scripts run; an element found in the copy goes stale (found without a handle). */
export async function signInFormReady(browser, timeout = 20_000) {
  await browser.waitUntil(
    () =>
      browser.execute(
        () => !!document.querySelector('input[name="username"]') && !document.querySelector("form[data-prerendered]"),
      ),
    { timeout, timeoutMsg: "the sign-in form was not drawn" },
  );
}

export async function signIn(browser, username = "frontdesk", password = "demo") {
  await signInFormReady(browser);
  const user = await browser.$('input[name="username"]');
  await user.waitForDisplayed({ timeout: 20_000 });
  await user.setValue(username);
  await browser.$('input[name="password"]').setValue(password);
  await browser.$('button[type="submit"]').click();
  await browser.$('[data-testid="gateway-chip"]').waitForDisplayed({ timeout: 10_000 });
}

/** Runs `body` in the card window the app opened (the gateways' hosted fields), then returns to
 * ClinicPay's window once the card window has closed. */
export async function inCardWindow(browser, body) {
  const main = await browser.getWindowHandle();
  await browser.waitUntil(async () => (await browser.getWindowHandles()).length === 2, {
    timeout: 10_000,
    timeoutMsg: "the card window did not open",
  });
  const card = (await browser.getWindowHandles()).find((h) => h !== main);
  await browser.switchToWindow(card);
  try {
    await body();
  } catch (e) {
    // What the card window showed, for the failure report (its own screenshot; the text on it).
    await shot(browser, `card-window-failure-${Date.now()}`).catch(() => {});
    const seen = await browser
      .execute(() => ({
        url: location.href,
        text: document.body.innerText,
        scripts: Array.from(document.scripts, (s) => s.src),
        frames: Array.from(document.querySelectorAll("iframe"), (f) => f.src),
      }))
      .catch((err) => String(err));
    e.message = `${e.message}\nthe card window showed: ${JSON.stringify(seen)}`;
    throw e;
  } finally {
    await browser
      .waitUntil(async () => (await browser.getWindowHandles()).length === 1, { timeout: 15_000 })
      .catch(() => {});
    await browser.switchToWindow(main);
  }
}

/** Runs `body` with IT's managed configuration of the app under test set to `text` (read when the app
 * starts), then removes it. */
export async function withManagedConfig(text, body) {
  const file = required("CLINICPAY_MANAGED_CONFIG");
  writeFileSync(file, text, { mode: 0o644 });
  try {
    return await body();
  } finally {
    rmSync(file, { force: true });
  }
}

/** Types a card on Stripe's own page (Checkout in setup mode, here the simulator's) in the window the
 * app opened for it, and saves it; the page's answer (the window closing, or the bank's refusal shown on
 * the page) is for the caller to wait for. */
export async function typeOnStripePage(browser, number, { exp = "12 / 30", cvc = "123" } = {}) {
  const field = await browser.$('[data-testid="checkout-card-number"]');
  await field.waitForDisplayed({ timeout: 15_000 });
  await field.clearValue();
  await field.setValue(number);
  await browser.$('[data-testid="checkout-exp"]').setValue(exp);
  await browser.$('[data-testid="checkout-cvc"]').setValue(cvc);
}

/** Clicks something that closes its own window (the card window's buttons): the click's answer may
 * come from a window that is already gone. */
export async function clickClosing(browser, selector) {
  try {
    await browser.$(selector).click();
  } catch (e) {
    if (!/no such window|window.*(closed|not found)|target.*closed/i.test(String(e))) throw e;
  }
}

/** What Tauri answers when this window's page calls `cmd`: "allowed", or the refusal as text. */
export function invokeIn(browser, cmd, args = {}) {
  return browser.executeAsync(
    (c, a, done) =>
      window.__TAURI_INTERNALS__.invoke(c, a).then(
        () => done("allowed"),
        (e) => done(typeof e === "string" ? e : JSON.stringify(e)),
      ),
    cmd,
    args,
  );
}

export async function openPatient(browser, patient) {
  const search = await browser.$('[data-testid="patient-search"]');
  await search.click();
  await search.clearValue();
  await search.setValue(patient.email);
  await browser.waitUntil(
    async () => (await browser.$$('[data-testid="patient-result"]')).length === 1,
    { timeout: 5_000, timeoutMsg: `no single result for ${patient.email}` },
  );
  await browser.keys("Enter");
  const name = await browser.$('[data-testid="patient-name"]');
  await name.waitForDisplayed({ timeout: 5_000 });
  assert.equal(await name.getText(), patient.name);
}

/** Clicks `element` once nothing covers it (a toast fading out, a re-render): tried again for a while. */
export async function clickWhenClear(browser, element, timeout = 10_000) {
  await element.scrollIntoView({ block: "center" });
  await browser.waitUntil(
    async () => {
      try {
        await element.click();
        return true;
      } catch {
        return false;
      }
    },
    { timeout, timeoutMsg: `${element.selector} could not be clicked` },
  );
}

/** Opens a tab of the patient profile once it can take a click (the profile re-renders as it loads). */
export async function tab(browser, name) {
  await browser.waitUntil(
    async () => {
      try {
        const t = await browser.$(`[data-testid="tab-${name}"]`);
        await t.waitForClickable({ timeout: 2_000 });
        await t.click();
        return (await t.getAttribute("aria-selected")) === "true";
      } catch {
        return false;
      }
    },
    { timeout: 10_000 },
  ).catch(async () => {
    const what = await browser.execute((n) => {
      const t = document.querySelector(`[data-testid="tab-${n}"]`);
      if (!t) return "no tab";
      const r = t.getBoundingClientRect();
      const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      return `tab at ${JSON.stringify(r)}; on top: ${top ? top.outerHTML.slice(0, 200) : "nothing"}`;
    }, name);
    throw new Error(`the ${name} tab could not be opened: ${what}`);
  });
}

/** Types into the hosted card fields inside the gateway's frames, then returns to ClinicPay's page. */
export async function typeInFrame(browser, frameSelector, values) {
  const frame = await browser.$(`${frameSelector}[data-ready="true"]`);
  await frame.waitForDisplayed({ timeout: 15_000, timeoutMsg: `the hosted field ${frameSelector} never became ready` });
  // As a person would: click into the gateway's field, then type. The keys go to the frame's input;
  // ClinicPay's page never sees them.
  for (const value of Object.values(values)) {
    await frame.click();
    for (const key of value) await browser.keys(key);
  }
  await browser.waitUntil(async () => (await frame.getAttribute("data-complete")) === "true", {
    timeout: 5_000,
    timeoutMsg: `the hosted field ${frameSelector} did not take ${Object.values(values).join("")}`,
  });
}

/** Types the card in the card window's hosted fields (NMI Collect.js in the demo clinic) and hands it over. */
export async function enterNmiCard(browser, number, { screenshot = null } = {}) {
  await inCardWindow(browser, async () => {
    await typeInFrame(browser, '[data-testid="collect-ccnumber"] iframe', { ccnumber: number });
    await typeInFrame(browser, '[data-testid="collect-ccexp"] iframe', { ccexp: "1230" });
    await typeInFrame(browser, '[data-testid="collect-cvv"] iframe', { cvv: "123" });
    // Even the card window's own page never holds the number: it is only inside the gateway's frames.
    const pageText = await browser.execute(() => document.documentElement.outerHTML);
    assert.ok(!pageText.includes(number), "the card number is not in ClinicPay's card window");
    if (screenshot) {
      await shot(browser, screenshot);
      await accessible(browser, "card window");
    }
    await clickClosing(browser, '[data-testid="use-card"]');
  });
}

/** Add payment method from the Payment methods tab, with an NMI test card; answers the toast. */
export async function addNmiCard(browser, number) {
  await tab(browser, "cards");
  await browser.$('[data-testid="add-card"]').click();
  const dialog = await browser.$('[data-testid="add-card-dialog"]');
  await dialog.waitForDisplayed({ timeout: 5_000 });
  await fillCardDetails(browser);
  const save = await browser.$('[data-testid="save-card"]');
  await browser.waitUntil(() => save.isEnabled(), { timeout: 10_000 });
  await save.click();
  await enterNmiCard(browser, number);
  await dialog.waitForExist({ reverse: true, timeout: 15_000 });
  return toast(browser);
}

/** Add payment method's two required fields, which start empty (nothing is filled in for staff). */
export async function fillCardDetails(browser, { name = "John Q Smith", country = "US" } = {}) {
  await browser.$('[data-testid="cardholder-name"]').setValue(name);
  await browser.$('[data-testid="card-country"]').selectByAttribute("value", country);
}

export async function toast(browser) {
  const t = await browser.$('[data-testid="toast"]');
  await t.waitForDisplayed({ timeout: 15_000 });
  const text = await t.getText();
  // Dismiss it, so the next action's toast is the one read next.
  await t.$("button").click();
  await t.waitForExist({ reverse: true, timeout: 5_000 });
  return text.replace(/\s*×$/, "");
}


after(() => {
  writeFileSync(join(SHOTS, `axe-${process.pid}.json`), JSON.stringify(axeFindings, null, 2));
});
