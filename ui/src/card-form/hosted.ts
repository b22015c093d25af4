// The gateways' hosted card fields (Stripe Elements, NMI Collect.js, or the training simulator's
// stand-ins), as the card window loads them. They run only in that window, whose capability lets it read
// which gateway to load and hand back one token: nothing else of ClinicPay (issue 19, item 8).

export type StripeCardElement = {
  mount: (selector: string | HTMLElement) => void;
  on: (event: "change", cb: (e: { complete: boolean; error?: { message: string } }) => void) => void;
  destroy: () => void;
};
type StripeInstance = {
  elements: () => { create: (type: "card") => StripeCardElement };
  createPaymentMethod: (params: {
    type: "card";
    card: StripeCardElement;
    billing_details: { name?: string; address?: { country?: string } };
  }) => Promise<{ paymentMethod?: { id: string }; error?: { message: string; code?: string } }>;
};
type CollectResponse = { token: string; card: { number: string; type: string } };
type CollectJs = {
  configure: (config: {
    variant: "inline";
    fields: Record<"ccnumber" | "ccexp" | "cvv", { selector: string; title?: string }>;
    callback: (r: CollectResponse) => void;
    validationCallback?: (field: string, valid: boolean, message: string) => void;
    timeoutCallback?: () => void;
  }) => void;
  startPaymentRequest: () => void;
};

declare global {
  interface Window {
    Stripe?: (key: string) => StripeInstance;
    CollectJS?: CollectJs;
  }
}

/** Loads a gateway script. */
function loadScript(src: string, attrs: Record<string, string>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    for (const [k, v] of Object.entries(attrs)) s.setAttribute(k, v);
    s.onload = () => resolve();
    s.onerror = () => reject(new Error("script"));
    document.head.appendChild(s);
  });
}

export type Billing = { name: string | null; country: string | null };

/** The mounted fields of one gateway: `tokenize` gives the token for what was typed. */
export type HostedFields = { tokenize: () => Promise<string> };

export async function mountStripe(
  scriptUrl: string,
  publicKey: string,
  billing: Billing,
  onError: (message: string | null) => void,
): Promise<HostedFields> {
  await loadScript(scriptUrl, {});
  if (!window.Stripe) throw new Error("script");
  const instance = window.Stripe(publicKey);
  const card = instance.elements().create("card");
  card.mount("#card-element");
  card.on("change", (e) => onError(e.error ? e.error.message : null));
  return {
    async tokenize() {
      const billingDetails: { name?: string; address?: { country?: string } } = {};
      if (billing.name) billingDetails.name = billing.name;
      if (billing.country) billingDetails.address = { country: billing.country };
      const result = await instance.createPaymentMethod({ type: "card", card, billing_details: billingDetails });
      if (result.error || !result.paymentMethod) throw new Error(result.error?.message ?? "Stripe refused the card.");
      return result.paymentMethod.id;
    },
  };
}

export async function mountCollect(scriptUrl: string, tokenizationKey: string): Promise<HostedFields> {
  await loadScript(scriptUrl, { "data-tokenization-key": tokenizationKey });
  const collect = window.CollectJS;
  if (!collect) throw new Error("script");
  let pending: ((r: CollectResponse | Error) => void) | null = null;
  collect.configure({
    variant: "inline",
    fields: {
      ccnumber: { selector: "#ccnumber", title: "Card number" },
      ccexp: { selector: "#ccexp", title: "Expiry date" },
      cvv: { selector: "#cvv", title: "Security code" },
    },
    callback: (r) => pending?.(r),
    validationCallback: (_field, valid, message) => {
      if (!valid && message && pending) pending(new Error(message));
    },
    timeoutCallback: () => pending?.(new Error("NMI did not answer in time. Try again.")),
  });
  return {
    tokenize() {
      return new Promise<string>((resolve, reject) => {
        pending = (r) => {
          pending = null;
          if (r instanceof Error) reject(r);
          else resolve(r.token);
        };
        collect.startPaymentRequest();
      });
    },
  };
}
