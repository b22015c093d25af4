// The floor under the window benchmarks' "key to next frame": the same 80 keys typed into a field of any
// app under tauri-driver (measure-desktop.sh runs it on the hello-world Tauri app and on ClinicPay's
// sign-in form), on this machine's display. A program that prints figures; it asserts nothing.
//
//   node bench/typing.mjs <name> <binary> <css selector of a text field> [args…]
import { remote } from "webdriverio";
import { SEARCH_KEYS, f1, listenKeyToFrame, pct, typeAndTime } from "./keys.mjs";

const [name, binary, selector, ...args] = process.argv.slice(2);
const port = Number(process.env.CLINICPAY_E2E_DRIVER_PORT ?? 4444);
const browser = await remote({
  hostname: "127.0.0.1",
  port,
  logLevel: "error",
  capabilities: { "wdio:enforceWebDriverClassic": true, "tauri:options": { application: binary, args } },
});
try {
  const field = await browser.$(selector);
  await field.waitForDisplayed({ timeout: 30_000 });
  await new Promise((r) => setTimeout(r, 2000));
  await field.click();
  await listenKeyToFrame(browser);
  const times = await typeAndTime(browser, SEARCH_KEYS, 60);
  console.log(
    `${name.padEnd(12)} typing into ${selector}: key to next frame p50 ${f1(pct(times, 0.5))} ms, p95 ${f1(pct(times, 0.95))} ms, max ${f1(Math.max(...times))} ms (${times.length} keys)`,
  );
  console.log(`FIGURES ${JSON.stringify({ p50: pct(times, 0.5), p95: pct(times, 0.95), keys: times.length })}`);
} finally {
  await browser.deleteSession();
}
