// Auto-updates of the installed app (scripts/update-e2e.sh): ClinicPay OLD is installed from its .deb,
// an update server on this computer serves NEW signed by a release key, and the real window is driven
// through WebDriver. A tampered update is refused and the desk keeps working on OLD; the genuine one is
// downloaded, verified, installed with dpkg, and the app restarts as NEW (the restarted app reports its
// version in the desk inventory, which is how this test knows what is running).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync, writeFileSync, existsSync, statSync } from "node:fs";
import { join, normalize } from "node:path";
import { DB, CLI, REPORTS, accessible, required, shot, signIn, withApp } from "../e2e/harness.mjs";

const SITE = required("CLINICPAY_UPDATE_SITE");
const MANAGED = required("CLINICPAY_MANAGED_CONFIG");
const PACKAGE = required("CLINICPAY_UPDATE_PACKAGE");
const OLD = required("CLINICPAY_UPDATE_OLD");
const NEW = required("CLINICPAY_UPDATE_NEW");
const NEW_DEB = required("CLINICPAY_UPDATE_NEW_DEB");
const RELEASE = required("CLINICPAY_RELEASE_BIN");
const KEY = required("CLINICPAY_RELEASE_KEY");

// The clinic's update server: static files, as IT would serve the folder clinicpay-release wrote.
const served = [];
const server = createServer((req, res) => {
  const path = normalize(join(SITE, decodeURIComponent(new URL(req.url, "http://x").pathname)));
  served.push(req.url);
  if (!path.startsWith(SITE) || !existsSync(path) || !statSync(path).isFile()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-length": statSync(path).size }).end(readFileSync(path));
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const BASE = `http://127.0.0.1:${server.address().port}`;
after(() => server.close());

/** IT publishes NEW with the release tool, into a folder of the server. */
function publish(folder, extra = []) {
  execFileSync(RELEASE, [
    "publish", "--version", NEW, "--channel", "stable", "--base-url", `${BASE}/${folder}`,
    "--key", KEY, "--out", join(SITE, folder), "--notes", "Faster patient search", ...extra, NEW_DEB,
  ]);
  const manifest = JSON.parse(readFileSync(join(SITE, folder, "stable/latest.json"), "utf8"));
  return join(SITE, new URL(manifest.platforms["linux-x86_64-deb"].url).pathname);
}

publish("good");
// A release the clinic requires: desks below NEW may not put it off.
publish("required", ["--minimum-version", NEW]);
// The same release, and then one byte of the package changed on the server after signing.
const tampered = publish("tampered");
const bytes = readFileSync(tampered);
bytes[bytes.length - 100] ^= 0xff;
writeFileSync(tampered, bytes);

function installedVersion() {
  return execFileSync("dpkg-query", ["-W", "-f=${Version}", PACKAGE], { encoding: "utf8" }).trim();
}

function desks() {
  return JSON.parse(execFileSync(CLI, ["--db", DB, "--as", "it", "--json", "desks"], { encoding: "utf8", env: { ...process.env, CLINICPAY_PASSWORD: "demo" } }));
}

/** IT's managed configuration on this computer points the desk at one of the server's folders. */
function manage(folder) {
  writeFileSync(MANAGED, `[updates]\nendpoint = "${BASE}/${folder}"\nchannel = "stable"\n`);
}

async function waitForPrompt(browser) {
  const bar = await browser.$('[data-testid="update-available"]');
  await bar.waitForDisplayed({ timeout: 30_000, timeoutMsg: "no update prompt (the first check runs a few seconds after start)" });
  assert.match(await bar.getText(), new RegExp(`ClinicPay ${NEW.replaceAll(".", "\\.")}`));
  return bar;
}

test("a tampered update is refused, nothing is installed, and the desk keeps working", async () => {
  assert.equal(installedVersion(), OLD);
  manage("tampered");
  await withApp(async (browser) => {
    await signIn(browser, "it");
    await waitForPrompt(browser);
    await shot(browser, "90-update-offered");
    await browser.$('[data-testid="update-restart"]').click();
    const refused = await browser.$('[data-testid="update-refused"]');
    await refused.waitForDisplayed({ timeout: 60_000 });
    const text = await refused.getText();
    assert.match(text, /was refused/);
    assert.match(text, new RegExp(`ClinicPay ${OLD.replaceAll(".", "\\.")} keeps working`));
    await shot(browser, "91-update-refused");
    // Still working: Settings shows the version it runs, what IT pinned, the desks, and writes diagnostics.
    await browser.$('[data-testid="nav-settings"]').click();
    const current = await browser.$('[data-testid="current-version"]');
    await current.waitForDisplayed({ timeout: 10_000 });
    assert.equal(await current.getText(), `ClinicPay ${OLD}`);
    const endpointRow = await browser.$('[data-testid="setting-row"][data-key="updates.endpoint"]');
    assert.match(await endpointRow.getText(), /Set by IT/);
    assert.equal(await endpointRow.$("input").isExisting(), false, "a managed setting has no input");
    assert.match(await browser.$('[data-testid="managed-note"]').getText(), /managed configuration/);
    await browser.waitUntil(async () => (await browser.$$('[data-testid="desk-row"]')).length > 0, { timeout: 10_000 });
    const desks = await browser.$$('[data-testid="desk-row"]').map((r) => r.getText());
    assert.ok(desks.some((t) => t.includes(OLD)), `this desk is listed: ${desks}`);
    await browser.$('[data-testid="write-diagnostics"]').click();
    const saved = await browser.$('[data-testid="diagnostics-saved"]');
    await saved.waitForDisplayed({ timeout: 10_000 });
    const zip = (await saved.getText()).replace(/^Saved to /, "");
    assert.ok(zip.startsWith(REPORTS) && statSync(zip).size > 0, zip);
    await shot(browser, "92-settings-for-it");
    await accessible(browser, "settings for IT, with a refused update");
  });
  assert.equal(installedVersion(), OLD, "nothing was installed");
  assert.ok(served.some((u) => u.endsWith(".deb")), "the app did download the tampered package");
});

test("an update the clinic requires offers no Later today", async () => {
  manage("required");
  await withApp(async (browser) => {
    await signIn(browser);
    const bar = await waitForPrompt(browser);
    assert.match(await bar.getText(), /Your clinic requires ClinicPay/);
    assert.equal(await browser.$('[data-testid="update-later"]').isExisting(), false);
    await shot(browser, "93-update-required");
  });
  assert.equal(installedVersion(), OLD, "nothing is installed until the person at the desk restarts");
});

test("a signed update is downloaded, verified, installed, and the app restarts on the new version", async () => {
  manage("good");
  let clicked = Date.now();
  await withApp(async (browser) => {
    await signIn(browser);
    await waitForPrompt(browser);
    clicked = Date.now();
    await browser.$('[data-testid="update-restart"]').click();
    // The app installs and restarts itself: this WebDriver session ends with it.
    await browser.waitUntil(() => installedVersion() === NEW, {
      timeout: 120_000,
      interval: 500,
      timeoutMsg: `dpkg still has ${installedVersion()}`,
    });
  });
  // The restarted app is NEW: it says so in the desk inventory as it starts.
  const deadline = Date.now() + 60_000;
  let mine;
  while (Date.now() < deadline) {
    mine = desks().find((d) => d.app_version === NEW && Date.parse(d.last_seen_at) >= clicked - 1000);
    if (mine) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(mine, `no desk reported ClinicPay ${NEW} after the restart: ${JSON.stringify(desks())}`);
  console.log(`# Restart to update → ClinicPay ${NEW} running again: ${((Date.parse(mine.last_seen_at) - clicked) / 1000).toFixed(1)} s`);
  console.log(`# update download (.deb): ${(statSync(NEW_DEB).size / 1048576).toFixed(1)} MiB`);
});
