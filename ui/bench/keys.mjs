// Key to next frame, as the window benchmarks measure it: the page notes each key's event time and the
// moment the frame after it has been painted. Shared by window.mjs (typing during a sweep) and
// typing.mjs (the same typing in any app's field, for the floor under this display).

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.round((s.length - 1) * p))] : NaN;
};
export const f1 = (x) => x.toFixed(1);

/** "smith" typed and taken back eight times: 80 keys, as someone searching for a patient would. */
export const SEARCH_KEYS = Array.from({ length: 8 }, () => [..."smith", ...Array(5).fill("Backspace")]).flat();

/** Starts recording, for every key, the time from its event to the next frame painted. */
export async function listenKeyToFrame(browser) {
  await browser.execute(() => {
    // The frame is requested while the key is handled, and its time taken once it has been painted.
    window.addEventListener(
      "keydown",
      (e) => {
        const t0 = e.timeStamp;
        requestAnimationFrame(() => setTimeout(() => window.__latency?.push(performance.now() - t0), 0));
      },
      true,
    );
  });
}

/** Types `keys` one at a time into the focused field, `gap` ms apart; returns each key's time to the
 * next frame. */
export async function typeAndTime(browser, keys, gap) {
  await browser.execute(() => {
    window.__latency = [];
  });
  for (const k of keys) {
    await browser.keys(k);
    await sleep(gap);
  }
  await sleep(300);
  return browser.execute(() => window.__latency);
}
