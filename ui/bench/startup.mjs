// Measures what a person waits for when ClinicPay opens, next to a hello-world Tauri 2 app built on the
// same machine in the same run: the time from launch to a usable window, and the memory the app and its
// WebKit processes hold once idle. A program that prints figures; it asserts nothing.
//
//   node bench/startup.mjs <name> <binary> <css selector of the first usable control> [args…]
import { readFileSync, readdirSync } from "node:fs";
import { remote } from "webdriverio";

const [name, binary, selector, ...args] = process.argv.slice(2);
const port = Number(process.env.CLINICPAY_E2E_DRIVER_PORT ?? 4444);
const runs = Number(process.env.RUNS ?? 5);

function pss(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system, in clock ticks of 1/100 s) a process has used. */
function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function children(pid) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d), ...children(Number(d)));
    } catch {
      /* gone */
    }
  }
  return out;
}

function appPid() {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0")[0];
      if (cmd === binary) return Number(d);
    } catch {
      /* gone */
    }
  }
  return null;
}

const starts = [];
const phases = [];
let memory = null;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const browser = await remote({
    hostname: "127.0.0.1",
    port,
    logLevel: "error",
    capabilities: { "wdio:enforceWebDriverClassic": true, "tauri:options": { application: binary, args } },
  });
  await browser.$(selector).waitForDisplayed({ timeout: 30_000, interval: 10 });
  const usable = performance.now();
  starts.push(usable - t0);
  // Where the time went, from the page's own clock: launch to the page's first request (the process,
  // WebKit and the app's set-up), to the HTML parsed and scripts run, to the control usable.
  const nav = await browser.execute(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return { origin: performance.timeOrigin, dcl: n ? n.domContentLoadedEventEnd : 0, now: performance.now() };
  });
  const launchToPage = nav.origin - (Date.now() - (performance.now() - t0)) ;
  phases.push({ launchToPage, pageToScripts: nav.dcl, scriptsToUsable: usable - t0 - launchToPage - nav.dcl });
  if (i === runs - 1) {
    await new Promise((r) => setTimeout(r, 5000));
    const pid = appPid();
    if (pid) {
      // Idle CPU over IDLE_SECONDS (60 by default: two of the billing engine's passes), then memory.
      const idle = Number(process.env.IDLE_SECONDS ?? 60);
      const before = [pid, ...children(pid)].reduce((s, p) => s + cpuTicks(p), 0);
      await new Promise((r) => setTimeout(r, idle * 1000));
      const all = [pid, ...children(pid)];
      const after = all.reduce((s, p) => s + cpuTicks(p), 0);
      memory = {
        processes: all.length,
        pssMiB: all.reduce((s, p) => s + pss(p), 0) / 1024,
        appMiB: pss(pid) / 1024,
        cpuPercent: (after - before) / idle,
        idle,
      };
    }
  }
  await browser.deleteSession();
  await new Promise((r) => setTimeout(r, 500));
}
starts.sort((a, b) => a - b);
const ms = (x) => `${x.toFixed(0)} ms`;
console.log(
  `${name.padEnd(12)} launch → usable window: first ${ms(starts[0])}… median ${ms(starts[Math.floor(starts.length / 2)])}, max ${ms(starts.at(-1))} (${runs} launches through tauri-driver)`,
);
const mid = (k) => phases.map((p) => p[k]).sort((a, b) => a - b)[Math.floor(phases.length / 2)];
console.log(
  `${name.padEnd(12)} phases (medians): launch → page requested ${ms(mid("launchToPage"))}, → scripts run ${ms(mid("pageToScripts"))}, → control usable ${ms(mid("scriptsToUsable"))}`,
);
if (memory) {
  console.log(
    `${name.padEnd(12)} idle (from 5 s after the window is usable, over ${memory.idle} s): CPU ${memory.cpuPercent.toFixed(2)} % of one core; memory (PSS) ${memory.pssMiB.toFixed(1)} MiB in ${memory.processes} processes (the app's own process ${memory.appMiB.toFixed(1)} MiB)`,
  );
}
// One line for scripts/measure-desktop.sh to put the two apps side by side.
console.log(
  `FIGURES ${JSON.stringify({ name, medianMs: starts[Math.floor(starts.length / 2)], pssMiB: memory?.pssMiB ?? null, cpuPercent: memory?.cpuPercent ?? null })}`,
);
