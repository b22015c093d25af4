/** Focuses a field when it is first drawn, as React's `autoFocus` does. The window runs on Preact
 * (vite.config.ts), which leaves `autofocus` to the browser, and a browser honours it only while the
 * page loads: a dialog or a step drawn later would open with nothing focused. Use as
 * `ref={focusOnMount}` (a function that stays the same, so it runs once, when the field appears). */
export function focusOnMount(field: HTMLElement | null): void {
  field?.focus();
}
