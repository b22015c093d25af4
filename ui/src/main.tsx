import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./styles.css";

declare global {
  interface Window {
    /** What was typed in the sign-in form the app drew into the page before its scripts ran
     * (src-tauri's `prerender`), taken over by the React form; cleared once it has been. */
    __CLINICPAY_TYPED__?: { username: string; password: string; focused: "username" | "password" | null };
  }
}

// When the page's scripts began, next to the first paint (the window test of the pre-rendered sign-in).
performance.mark("clinicpay-scripts");

const root = document.getElementById("root");
if (root) {
  const field = (name: string) => root.querySelector<HTMLInputElement>(`form[data-prerendered] input[name="${name}"]`);
  const [username, password] = [field("username"), field("password")];
  if (username && password) {
    const active = document.activeElement;
    window.__CLINICPAY_TYPED__ = {
      username: username.value,
      password: password.value,
      focused: active === password ? "password" : active === username ? "username" : null,
    };
  }
  // The pre-rendered copy goes before the app draws its own (React's createRoot replaced it; Preact would
  // try to reuse its elements). Both happen in this task, so no frame shows an empty window.
  root.replaceChildren();
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
