// The first-run setup as a person goes through it in the window, and the gateway simulator behind https
// as a live clinic's gateway is: shared by the window's tests (ui/e2e) and the installed app's (ui/e2e-install).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, connect } from "node:net";
import { after } from "node:test";

const children = [];
after(() => children.forEach((c) => c.kill()));

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function listening(port) {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const c = connect(port, "127.0.0.1", () => {
        c.end();
        resolve(true);
      });
      c.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** `cli sim serve` insisting on `nmiKey`, and https in front of it (socat, with the certificate of the
 * test CA this computer trusts, in `tlsDir`). Its two addresses. */
export async function gatewayOverHttps(cli, nmiKey, tlsDir) {
  const simPort = await freePort();
  const sim = spawn(cli, ["sim", "serve", "--port", String(simPort), "--nmi-key", nmiKey], { stdio: "ignore" });
  children.push(sim);
  await listening(simPort);
  const httpsPort = await freePort();
  const front = spawn(
    "socat",
    [
      `OPENSSL-LISTEN:${httpsPort},bind=127.0.0.1,reuseaddr,fork,cert=${tlsDir}/server.pem,key=${tlsDir}/server.key,verify=0`,
      `TCP:127.0.0.1:${simPort}`,
    ],
    { stdio: "ignore" },
  );
  children.push(front);
  await listening(httpsPort);
  return { sim: `http://127.0.0.1:${simPort}`, https: `https://localhost:${httpsPort}` };
}

export async function step(browser, name) {
  await browser.$(`[data-testid="setup-${name}"]`).waitForDisplayed({ timeout: 10_000 });
}

export async function next(browser) {
  await browser.$('[data-testid="setup-next"]').click();
}

export async function setupError(browser) {
  const e = await browser.$('[data-testid="setup-error"]');
  await e.waitForDisplayed({ timeout: 10_000 });
  return e.getText();
}

/** Chooses NMI in the gateway step, at `address`, with its tokenization key. */
export async function fillNmi(browser, { address, tokenizationKey }) {
  await browser.$('input[name="gateway"][value="nmi"]').click();
  await browser.$('input[name="nmi_public_key"]').setValue(tokenizationKey);
  await browser.execute(() => {
    const advanced = document.querySelector('[data-testid="gateway-keys-nmi"] details');
    if (advanced) advanced.open = true;
  });
  await browser.$('input[name="nmi_api_base"]').setValue(address);
}

/** Fills the gateway step for NMI at `address` with `key`, checks it, and waits for NMI's yes. */
export async function checkNmi(browser, { address, key, tokenizationKey }) {
  await fillNmi(browser, { address, tokenizationKey });
  await browser.$('input[name="nmi_secret"]').setValue(key);
  await browser.$('[data-testid="check-nmi"]').click();
  await browser.waitUntil(
    async () => (await browser.$('[data-testid="check-result-nmi"]').getAttribute("role")) === "status",
    { timeout: 20_000, timeoutMsg: "NMI did not accept the clinic's key" },
  );
}

/** The whole setup, straight through, on this computer's database, with no mail server: the clinic's
 * sign-in screen is shown at the end. */
export async function setUpClinic(browser, { clinic, username, password, address, key, tokenizationKey }) {
  await browser.$('[data-testid="setup-start"]').waitForDisplayed({ timeout: 20_000 });
  await browser.$('[data-testid="setup-start"]').click();
  await step(browser, "database");
  await next(browser);
  await step(browser, "clinic");
  await browser.$('input[name="clinic_name"]').setValue(clinic);
  await next(browser);
  await step(browser, "account");
  await browser.$('input[name="it_username"]').setValue(username);
  await browser.$('input[name="password"]').setValue(password);
  await browser.$('input[name="password_repeat"]').setValue(password);
  await next(browser);
  await step(browser, "gateway");
  await checkNmi(browser, { address, key, tokenizationKey });
  await next(browser);
  await step(browser, "fallback");
  await next(browser);
  await step(browser, "mail");
  await next(browser);
  await step(browser, "review");
  await next(browser);
  const title = await browser.$("#sign-in-title");
  await title.waitForDisplayed({ timeout: 20_000 });
  assert.equal(await title.getText(), `Sign in to ${clinic}`);
}
