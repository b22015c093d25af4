// The card window: the gateway's hosted fields and one button. It asks which gateway to load and hands
// back one token; the desk window saves the card. This page can call nothing else (its capability).
import { commands } from "../bindings";
import { gatewayName } from "../format";
import { mountCollect, mountStripe, type HostedFields } from "./hosted";
import "../styles.css";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const intro = $<HTMLParagraphElement>("card-form-intro");
const errorLine = $<HTMLParagraphElement>("card-form-error");
const useCard = $<HTMLButtonElement>("use-card");
const cancel = $<HTMLButtonElement>("cancel-card");

function showError(message: string | null) {
  errorLine.textContent = message ?? "";
  errorLine.hidden = !message;
}

async function start() {
  const config = await commands.cardFormConfig();
  if (config.status === "error") {
    intro.textContent = "";
    showError(config.error.message);
    return;
  }
  const form = config.data;
  const name = gatewayName(form.gateway);
  intro.textContent =
    `The number goes straight to ${name}; ClinicPay keeps only the brand, last four and expiry.` +
    (form.training ? ` Training mode: use a test card such as ${form.gateway === "stripe" ? "4242 4242 4242 4242" : "4111 1111 1111 1111"}.` : "");
  let fields: HostedFields;
  try {
    if (form.gateway === "stripe") {
      $("stripe-fields").hidden = false;
      fields = await mountStripe(form.script_url, form.public_key, { name: form.cardholder_name, country: form.country }, showError);
    } else {
      $("nmi-fields").hidden = false;
      fields = await mountCollect(form.script_url, form.public_key);
    }
  } catch {
    showError("The card form could not be loaded from the gateway. Check the internet connection and try again; if it keeps failing, ask IT.");
    return;
  }
  useCard.disabled = false;
  useCard.addEventListener("click", () => {
    useCard.disabled = true;
    useCard.textContent = "Checking…";
    showError(null);
    void (async () => {
      try {
        const token = await fields.tokenize();
        const handed = await commands.handOverCardToken(token);
        // The window closes itself once the desk has the token.
        if (handed.status === "error") throw new Error(handed.error.message);
      } catch (e) {
        // The gateway's own words for a card it refused or fields left incomplete.
        showError(e instanceof Error ? e.message : String(e));
        useCard.disabled = false;
        useCard.textContent = "Use this card";
      }
    })();
  });
}

cancel.addEventListener("click", () => void commands.cancelCardEntry());
void start();
