// End-to-end: the real ClinicPay window, driven through tauri-driver and WebKitWebDriver under Xvfb.
// scripts/e2e.sh builds the app, creates a demo clinic and starts the drivers; these tests read the
// truth from the same database through the `clinicpay` CLI and compare it with what the window shows.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { remote } from "webdriverio";

const APP = required("CLINICPAY_E2E_APP");
const DB = required("CLINICPAY_E2E_DB");
const CLI = required("CLINICPAY_E2E_CLI");
const SHOTS = process.env.CLINICPAY_E2E_SCREENSHOTS ?? "e2e-screenshots";
mkdirSync(SHOTS, { recursive: true });

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the end-to-end tests through scripts/e2e.sh`);
  return v;
}

/** The store's answer, through the CLI contract. */
function clinicpay(...args) {
  return JSON.parse(execFileSync(CLI, ["--db", DB, "--as", "frontdesk", "--json", ...args], { encoding: "utf8", env: { ...process.env, CLINICPAY_PASSWORD: "demo" } }));
}

/** Runs `body` with a fresh app window, and always closes it: tauri-driver drives one window at a time. */
async function withApp(body) {
  const browser = await openApp();
  try {
    await body(browser);
  } catch (e) {
    await shot(browser, `failure-${Date.now()}`).catch(() => {});
    throw e;
  } finally {
    await browser.deleteSession().catch(() => {});
  }
}

async function openApp() {
  const browser = await remote({
    hostname: "127.0.0.1",
    port: Number(process.env.CLINICPAY_E2E_DRIVER_PORT ?? 4444),
    logLevel: "error",
    connectionRetryTimeout: 60_000,
    capabilities: {
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application: APP, args: ["--db", DB] },
    },
  });
  return browser;
}

/** The rendered text (innerText) of every element matching `selector`, as a person reads it, read in
 * one step inside the page so a list that re-renders meanwhile cannot hand back a vanished row.
 * (WebKitWebDriver's getText answers "" inside the absolutely positioned results list.) */
async function texts(browser, selector) {
  return browser.execute((sel) => Array.from(document.querySelectorAll(sel), (e) => e.innerText), selector);
}

async function shot(browser, name) {
  await browser.saveScreenshot(join(SHOTS, `${name}.png`));
}

/** Waits for the sign-in form the app's scripts draw. The page is served with a pre-rendered copy that
 * React replaces once its scripts run; an element found in the copy goes stale (found without a handle). */
async function signInFormReady(browser, timeout = 20_000) {
  await browser.waitUntil(
    () =>
      browser.execute(
        () => !!document.querySelector('input[name="username"]') && !document.querySelector("form[data-prerendered]"),
      ),
    { timeout, timeoutMsg: "the sign-in form was not drawn" },
  );
}

async function signIn(browser, username, password) {
  await signInFormReady(browser);
  const user = await browser.$('input[name="username"]');
  await user.waitForDisplayed({ timeout: 20_000 });
  await user.setValue(username);
  await browser.$('input[name="password"]').setValue(password);
  await browser.$('button[type="submit"]').click();
}

/** A demo patient with at least two saved cards, and what the store says about them. */
function patientWithCards() {
  for (const q of ["smith", "garcia", "chen", "patel", "khan", "a"]) {
    for (const p of clinicpay("patients", "search", q)) {
      const cards = clinicpay("cards", "list", String(p.id));
      if (cards.length >= 2) return { patient: p, cards };
    }
  }
  throw new Error("the demo clinic has no patient with two cards");
}

test("a front-desk person signs in, finds a patient, sees the cards with the right default, and signs out", async () => {
  const { patient, cards } = patientWithCards();
  await withApp(async (browser) => {
    await browser.setWindowSize(1280, 800);
    await signIn(browser, "frontdesk", "demo");

    const banner = await browser.$('[data-testid="training-banner"]');
    await banner.waitForDisplayed({ timeout: 10_000 });
    assert.match(await banner.getText(), /Training mode/);
    assert.equal(await browser.$('[data-testid="gateway-chip"]').getText(), "Taking cards through NMI");
    assert.match(await browser.$('[data-testid="signed-in-as"]').getText(), /Front Desk/);
    assert.ok(await browser.$('[data-testid="no-patient"]').isDisplayed(), "an empty state, not a blank panel");
    await shot(browser, "01-signed-in");

    // Type-ahead from the keyboard: "/" focuses the search, results come as you type.
    await browser.keys("/");
    const search = await browser.$('[data-testid="patient-search"]');
    assert.ok(await search.isFocused(), "/ puts the cursor in the patient search");
    const lastName = patient.name.split(" ").at(-1);
    await browser.keys(lastName.slice(0, 3).split(""));
    await browser.waitUntil(async () => (await browser.$$('[data-testid="patient-result"]')).length > 0, {
      timeout: 5_000,
      timeoutMsg: "no results while typing",
  });
  const firstNames = await texts(browser, '[data-testid="patient-result"] .result-name');
  const expected = clinicpay("patients", "search", lastName.slice(0, 3)).map((p) => p.name);
  assert.deepEqual(firstNames, expected, "the window lists what the store finds, in the same order");
  await shot(browser, "02-type-ahead");

  // The email finds exactly this patient; Enter opens the profile.
  await search.clearValue();
  await search.setValue(patient.email);
  let seen = "nothing";
  await browser
    .waitUntil(
      async () => {
        const names = await texts(browser, '[data-testid="patient-result"] .result-name');
        seen = JSON.stringify(names);
        return names.length === 1 && names[0] === patient.name;
      },
      { timeout: 5_000 },
    )
    .catch(() => {
      throw new Error(`searching ${patient.email} did not narrow to ${patient.name}; the list showed ${seen}`);
    });
  await browser.keys("Enter");
  const name = await browser.$('[data-testid="patient-name"]');
  await name.waitForDisplayed({ timeout: 5_000 });
  assert.equal(await name.getText(), patient.name);

  // The Payment Methods table: the store's cards, default first with its check, MM/YYYY expiry.
  const rows = await browser.$$('[data-testid="card-row"]');
  assert.equal(rows.length, cards.length);
  const issuers = await texts(browser, '[data-testid="card-issuer"]');
  assert.deepEqual(issuers, cards.map((c) => `${c.brand} ••${c.last4}`));
  assert.equal(await rows[0].getAttribute("data-default"), "yes");
  assert.equal(cards[0].is_default, true);
  assert.equal((await browser.$$('[data-testid="default-check"]')).length, 1, "exactly one default");
  const expiries = await texts(browser, '[data-testid="card-expiry"]');
  expiries.forEach((text, i) => assert.ok(text.startsWith(cards[i].expiry), `${text} shows ${cards[i].expiry}`));
  await shot(browser, "03-patient-profile");

  await browser.$('[data-testid="tab-activity"]').click();
  const activity = await browser.$('[data-testid="activity-list"], [data-testid="no-activity"]');
  await activity.waitForDisplayed({ timeout: 5_000 });
  await shot(browser, "04-activity");

  await browser.$('[data-testid="tab-cards"]').click();
  await browser.setWindowSize(1024, 700);
  await shot(browser, "05-patient-profile-1024x700");

  await browser.$('[data-testid="sign-out"]').click();
  await browser.$('input[name="username"]').waitForDisplayed({ timeout: 5_000 });
  await shot(browser, "06-signed-out");
  });
});

test("the sign-in form is on screen before the page's scripts run, the same as the one the app then shows", async () => {
  await withApp(async (browser) => {
    // The React form has taken over (the pre-rendered one carries data-prerendered).
    await signInFormReady(browser);
    const { parsed, live } = await browser.execute(() => {
      // Element by element: tag, classes, and the text of those without children.
      const shape = (root) =>
        [...root.querySelectorAll("*")].map(
          (e) => `${e.tagName}.${e.className}${e.childElementCount ? "" : `:${e.textContent.trim()}`}`,
        );
      const then = document.createElement("div");
      then.innerHTML = window.__CLINICPAY_PARSED__?.html ?? "";
      return { parsed: shape(then), live: shape(document.getElementById("root")) };
    });
    assert.ok(parsed.some((e) => e.startsWith("INPUT")), `the parsed page held the form: ${parsed.join(" ")}`);
    assert.deepEqual(parsed, live, "the pre-rendered form is the React one");
  });
});

test("a wrong password gives the sign-in message and no way in", async () => {
  await withApp(async (browser) => {
    await signIn(browser, "frontdesk", "not-the-password");
    const error = await browser.$('[data-testid="sign-in-error"]');
    await error.waitForDisplayed({ timeout: 10_000 });
    assert.equal(await error.getText(), "The name or password is not right. Check them and try again.");
    assert.equal(await browser.$('[data-testid="patient-search"]').isExisting(), false);
    assert.equal(await browser.$('input[name="password"]').getValue(), "", "the password field is cleared");
    await shot(browser, "07-wrong-password");
  });
});
