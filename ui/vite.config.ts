import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The window loads the built files from inside the app (tauri://localhost); the dev server is for
// `cargo run` without the custom-protocol feature.
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, sourcemap: false },
});
