// End-to-end: staff accounts in the real window (issue 19, item 3). IT adds an account, switches it off
// (its sign-in is refused) and on again; the person changes their own password and signs in with it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { accessible, clinicpayAs, shot, signIn, toast, withApp } from "./harness.mjs";

const NURSE = `e2e-nurse-${process.pid}`;
const FIRST = "first long password 19";
const SECOND = "second long password 19";

async function openSettings(browser) {
  await browser.$('[data-testid="nav-settings"]').click();
  await browser.$('[data-testid="settings-screen"]').waitForDisplayed({ timeout: 10_000 });
}

async function signOut(browser) {
  await browser.$('[data-testid="sign-out"]').click();
  await browser.$('input[name="username"]').waitForDisplayed({ timeout: 10_000 });
}

function row(browser) {
  return browser.$(`[data-testid="staff-row"][data-username="${NURSE}"]`);
}

function listed() {
  return clinicpayAs("it", "staff", "list").find((m) => m.username === NURSE);
}

test("IT adds, switches off and on a staff account, and the person changes their own password", async () => {
  await withApp(async (browser) => {
    await signIn(browser, "it");
    await openSettings(browser);
    const panel = await browser.$('[data-testid="staff-panel"]');
    await panel.waitForDisplayed({ timeout: 10_000 });

    // A password too short is refused in the dialog, with what to do.
    await browser.$('[data-testid="add-staff"]').click();
    await browser.$('[data-testid="new-staff-username"]').setValue(NURSE);
    await browser.$('[data-testid="new-staff-name"]').setValue("Nina Nurse");
    await browser.$('[data-testid="new-staff-password"]').setValue("short");
    await browser.$('[data-testid="add-staff-dialog"] button[type="submit"]').click();
    const error = await browser.$('[data-testid="add-staff-dialog"] .form-error');
    await error.waitForDisplayed({ timeout: 5_000 });
    assert.match(await error.getText(), /at least 12 characters/);
    assert.equal(listed(), undefined, "nothing was added");

    await browser.$('[data-testid="new-staff-password"]').setValue(FIRST);
    await browser.$('[data-testid="add-staff-dialog"] button[type="submit"]').click();
    assert.match(await toast(browser), /can sign in now/);
    await row(browser).waitForDisplayed({ timeout: 5_000 });
    assert.deepEqual([listed().role, listed().active], ["front_desk", true]);
    await shot(browser, "45-staff-panel");
    await accessible(browser, "staff panel");

    // Switched off: the change is in the store at once, and the sign-in is refused.
    await row(browser).$('[data-testid="staff-active"]').click();
    assert.match(await toast(browser), /switched off/);
    assert.equal(listed().active, false);
    await signOut(browser);
    await browser.$('input[name="username"]').setValue(NURSE);
    await browser.$('input[name="password"]').setValue(FIRST);
    await browser.$('button[type="submit"]').click();
    const refused = await browser.$('[data-testid="sign-in-error"]');
    await refused.waitForDisplayed({ timeout: 10_000 });
    assert.match(await refused.getText(), /switched off/);

    // On again; the nurse changes their own password, and no staff panel is offered to the front desk.
    await browser.$('input[name="username"]').clearValue();
    await signIn(browser, "it");
    await openSettings(browser);
    await row(browser).waitForDisplayed({ timeout: 10_000 });
    await row(browser).$('[data-testid="staff-active"]').click();
    assert.match(await toast(browser), /can sign in again/);
    await signOut(browser);

    await signIn(browser, NURSE, FIRST);
    await openSettings(browser);
    assert.equal(await browser.$('[data-testid="staff-panel"]').isExisting(), false);
    await browser.$('[data-testid="current-password"]').setValue(FIRST);
    await browser.$('[data-testid="new-password"]').setValue(SECOND);
    await browser.$('[data-testid="new-password-again"]').setValue(SECOND);
    await browser.$('[data-testid="change-password"]').click();
    assert.match(await toast(browser), /password is changed/);
    await accessible(browser, "your password");
    await signOut(browser);
    await signIn(browser, NURSE, SECOND);
    await signOut(browser);
  });
});
