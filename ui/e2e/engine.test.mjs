// End-to-end: two desk apps on one clinic's PostgreSQL run one billing engine between them (issue 20).
// Desk B (an app process of its own, named by IT's managed configuration) takes the engine; desk A, in
// the window, shows who runs it and waits; desk B dies (SIGKILL: no goodbye, its lease just stops being
// renewed) and desk A takes the engine over within two minutes.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { APP, CLI, required, shot, signIn, withApp } from "./harness.mjs";

const PG = required("CLINICPAY_E2E_PG_DB");
const WORK = mkdtempSync(join(tmpdir(), "clinicpay-engine-"));
let deskB = null;
after(() => deskB?.kill("SIGKILL"));

function status() {
  return JSON.parse(
    execFileSync(CLI, ["--db", PG, "--as", "manager", "--json", "worker", "status"], {
      encoding: "utf8",
      env: { ...process.env, CLINICPAY_PASSWORD: "demo" },
    }),
  );
}

async function until(what, seconds, done) {
  const started = Date.now();
  for (;;) {
    const v = done();
    if (v) return (Date.now() - started) / 1000;
    if (Date.now() - started > seconds * 1000) throw new Error(`${what}: not within ${seconds} s (${JSON.stringify(status())})`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

test("two desks on one PostgreSQL run one billing engine, and the other takes over when one dies", async () => {
  // Desk B: IT names it in its managed configuration (written by root, as a deployed file is).
  const managed = join(WORK, "managed.toml");
  writeFileSync(managed, 'desk-name = "Desk B"\n', { mode: 0o644 });
  deskB = spawn(APP, ["--db", PG], {
    env: { ...process.env, CLINICPAY_MANAGED_CONFIG: managed, CLINICPAY_LOG_DIR: join(WORK, "logs-b") },
    stdio: "ignore",
  });
  await until("desk B takes the engine", 150, () => status().runner?.name === "Desk B");

  await withApp(
    async (browser) => {
      await signIn(browser, "manager", "demo");
      await browser.$('[data-testid="nav-settings"]').click();
      const runner = await browser.$('[data-testid="engine-runner"]');
      await runner.waitForDisplayed({ timeout: 10_000 });
      await browser.waitUntil(async () => /Desk B/.test(await runner.getText()), { timeout: 15_000 });
      const here = await browser.$('[data-testid="engine-here"]');
      await browser.waitUntil(async () => /ready to take over/.test(await here.getText()), {
        timeout: 45_000,
        timeoutMsg: "desk A did not say it waits",
      });
      await runner.scrollIntoView();
      await shot(browser, "engine-desk-b-runs-it");

      // Desk B dies without a word.
      deskB.kill("SIGKILL");
      const took = await until("desk A takes the engine over", 120, () => {
        const s = status();
        return s.runner && s.runner.name !== "Desk B";
      });
      console.log(`# desk A took the engine over ${took.toFixed(0)} s after desk B was killed (lease 75 s, a try every 30 s)`);
      await browser.waitUntil(async () => /\(this desk\)/.test(await runner.getText()), {
        timeout: 15_000,
        timeoutMsg: "desk A's panel did not say it runs the engine",
      });
      const after = status();
      assert.equal(after.runner.kind, "desk");
      assert.equal(after.warning, null, JSON.stringify(after));
      await runner.scrollIntoView();
      await shot(browser, "engine-desk-a-took-over");
    },
    { db: PG },
  );
});
