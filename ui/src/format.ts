// How the window writes dates, expiry and money: the same way everywhere.
import type { CardView, Gateway, Money } from "./bindings";

const dateFormat = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "short", day: "numeric" });
const dateTimeFormat = new Intl.DateTimeFormat("en-US", {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});

export function formatDate(iso: string): string {
  return dateFormat.format(new Date(iso));
}

export function formatDateTime(iso: string): string {
  return dateTimeFormat.format(new Date(iso));
}

export function gatewayName(g: Gateway): string {
  return g === "nmi" ? "NMI" : "Stripe";
}

export type ExpiryState = { tone: "ok" | "amber" | "red"; label: string | null };

/** "EXPIRED" in red, "expires in 12 days" in amber within 60 days, nothing otherwise. */
export function expiryState(card: CardView): ExpiryState {
  if (card.expired) return { tone: "red", label: "EXPIRED" };
  const d = card.days_until_expiry;
  if (d === 0) return { tone: "amber", label: "expires today" };
  if (d <= 60) return { tone: "amber", label: `expires in ${d} day${d === 1 ? "" : "s"}` };
  return { tone: "ok", label: null };
}

const fractionDigits = new Map<string, number>();

/** "$1,234.50": exact minor units, shown in the currency's own way. */
export function formatMoney(m: Money): string {
  let digits = fractionDigits.get(m.currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat("en-US", { style: "currency", currency: m.currency }).resolvedOptions()
      .maximumFractionDigits ?? 2;
    fractionDigits.set(m.currency, digits);
  }
  const f = new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: m.currency,
    minimumFractionDigits: digits,
  });
  return f.format(m.minor / 10 ** digits);
}
