import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

// The desk window's own Content Security Policy, as clinicpay_desktop::desk_page_meta_csp() says it
// (src-tauri/tests/it/csp.rs checks they agree). Tauri's header, which the card window lives by, lets the
// gateways' scripts in; this <meta> keeps them out of the desk window. Added at build only: the dev
// server's React refresh needs an inline script.
const DESK_WINDOW_CSP = "default-src 'self'; script-src 'self'; frame-src 'none'; worker-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src ipc: http://ipc.localhost; object-src 'none'; base-uri 'none'; form-action 'none'";

function deskWindowCsp(): Plugin {
  return {
    name: "clinicpay-desk-window-csp",
    apply: "build",
    transformIndexHtml: {
      order: "pre",
      handler(html, ctx) {
        if (!ctx.filename.endsWith("index.html")) return html;
        return html.replace("<head>", `<head>\n    <meta http-equiv="Content-Security-Policy" content="${DESK_WINDOW_CSP}" />`);
      },
    },
  };
}

// The window loads the built files from inside the app (tauri://localhost); the dev server is for
// `cargo run` without the custom-protocol feature. Two pages: the desk window (index.html) and the card
// window (card-form.html), the only one where the gateways' scripts run.
export default defineConfig({
  plugins: [react(), deskWindowCsp()],
  clearScreen: false,
  // React's API on Preact's renderer (docs/performance.md, cold start): the window's code is written
  // against React's types and hooks; Preact runs them in a tenth of the script.
  resolve: {
    alias: [
      { find: /^react-dom\/client$/, replacement: "preact/compat/client" },
      { find: /^react-dom$/, replacement: "preact/compat" },
      { find: /^react\/jsx-runtime$/, replacement: "preact/jsx-runtime" },
      { find: /^react\/jsx-dev-runtime$/, replacement: "preact/jsx-dev-runtime" },
      { find: /^react$/, replacement: "preact/compat" },
    ],
  },
  server: { port: 5173, strictPort: true },
  build: {
    target: "safari15",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    rollupOptions: {
      input: {
        main: "index.html",
        cardForm: "card-form.html",
      },
    },
  },
});
