// The installed package alone sets up a live clinic and bills it (issue 20): ClinicPay installed from its
// .deb (scripts/update-e2e.sh), a new desk's first-run setup in the window against the gateway simulator
// behind https (all a shipped build sends a live key to), the key in this run's Secret Service; then the
// app's own billing engine charges a subscription's first cycle with no worker anywhere. The only command
// line used is the one the package installed, /usr/bin/clinicpay.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { required, shot, signIn, withApp } from "../e2e/harness.mjs";
import { gatewayOverHttps, setUpClinic } from "../e2e/setup-steps.mjs";

const TLS = required("CLINICPAY_TEST_GATEWAY_TLS");
const INSTALLED = "/usr/bin/clinicpay";
const NMI_KEY = "HillsideLiveSecurityKey00000001";
const IT_PASSWORD = "hillside it password 20";
const MANAGER_PASSWORD = "hillside manager pw 20";
const DB = join(mkdtempSync(join(tmpdir(), "clinicpay-installed-")), "clinic.db");

function clinicpay(who, password, args, input) {
  return JSON.parse(
    execFileSync(INSTALLED, ["--db", DB, "--as", who, "--json", ...args], {
      encoding: "utf8",
      input,
      env: { ...process.env, CLINICPAY_PASSWORD: password },
    }),
  );
}

test("the installed app sets a live clinic up by itself and bills it with nobody at the desk", async () => {
  const gateway = await gatewayOverHttps(INSTALLED, NMI_KEY, TLS);
  await withApp(
    async (browser) => {
      await browser.$('[data-testid="first-run"]').waitForDisplayed({ timeout: 30_000 });
      await setUpClinic(browser, {
        clinic: "Hillside Clinic",
        username: "sam.it",
        password: IT_PASSWORD,
        address: gateway.https,
        key: NMI_KEY,
        tokenizationKey: "5mN8N7-jhr55W-N22pxX-uAW2s9",
      });
      await signIn(browser, "sam.it", IT_PASSWORD);
      await shot(browser, "installed-first-run-signed-in");

      clinicpay("sam.it", IT_PASSWORD, ["staff", "add", "rita", "--role", "billing_manager"], `${MANAGER_PASSWORD}\n`);
      const patient = clinicpay("rita", MANAGER_PASSWORD, ["patients", "add", "--name", "Hal Hill", "--email", "hal@hillside.example"]);
      const { token } = JSON.parse(
        execFileSync(INSTALLED, ["--json", "sim", "token", "--sim", gateway.sim, "--gateway", "nmi", "--card", "4111111111111111", "--exp", "12/30"], {
          encoding: "utf8",
        }),
      );
      clinicpay("rita", MANAGER_PASSWORD, ["cards", "add", String(patient.id), "--gateway", "nmi", "--token", token]);
      clinicpay("rita", MANAGER_PASSWORD, ["subscriptions", "create", String(patient.id), "--plan", "Wellness", "--amount", "39.00", "--every", "month"]);
      const started = Date.now();
      let paid = [];
      while (Date.now() - started < 120_000) {
        paid = clinicpay("rita", MANAGER_PASSWORD, ["payments", "list", String(patient.id)]).filter((p) => p.status === "SUCCEEDED");
        if (paid.length > 0) break;
        await new Promise((r) => setTimeout(r, 2_000));
      }
      assert.equal(paid.length, 1, "the installed app's engine charged the first cycle, once");
      assert.equal(paid[0].amount.minor, 3900);
      const engine = clinicpay("sam.it", IT_PASSWORD, ["worker", "status"]);
      assert.equal(engine.runner?.kind, "desk", JSON.stringify(engine));
      console.log(`# the installed app charged the first cycle ${((Date.now() - started) / 1000).toFixed(1)} s after the subscription was made`);
    },
    { db: DB },
  );
});
