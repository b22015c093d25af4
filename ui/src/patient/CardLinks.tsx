// Secure card links (issue 22): Stripe's own page for the patient's account, sent by email (or given by
// staff), where the patient saves a card without anyone at the desk. The billing engine saves the card
// once the patient completes the page, and retries their recovery orders with it.
import { useState } from "react";
import { commands, type CardLinkView, type ClinicInfo, type OrderId, type PatientId } from "../bindings";
import { call } from "../api";
import { formatDateTime, gatewayName } from "../format";
import { copyText } from "../shared/clipboard";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

const STATUS_WORDS: Record<CardLinkView["status"], string> = {
  open: "Waiting for the patient",
  saving: "Saving the card",
  completed: "Card saved",
  expired: "Expired",
  failed: "Not kept",
};

/** "Send a secure card link": by email (the clinic's template), or only made for staff to give. */
export function SendCardLinkDialog({
  patientId,
  email,
  orderId,
  onClose,
  onSent,
}: {
  patientId: PatientId;
  email: string;
  orderId: OrderId | null;
  onClose: () => void;
  onSent: (link: CardLinkView) => void;
}) {
  const toast = useToast();
  const { busy, error, submit } = useSubmit();
  function make(send: boolean) {
    void submit(async () => {
      const link = await call(commands.sendCardLink(patientId, orderId, send));
      if (send) toast.ok(`The secure card link was emailed to ${link.sent_to ?? email}.`);
      else {
        const copied = link.url ? await copyText(link.url) : false;
        toast.ok(copied ? "The secure card link is on the clipboard." : "The secure card link is on the patient's Payment methods tab.");
      }
      onSent(link);
    });
  }
  return (
    <Dialog title="Send a secure card link" onClose={onClose} busy={busy} testId="card-link-dialog">
      <div className="stack">
        <p>
          The patient saves a card on Stripe's own secure page: the clinic never sees its number, and nothing is
          charged then.{" "}
          {orderId !== null &&
            `Once the patient has saved it, ClinicPay retries their unpaid plan charges with it within a minute or so, order #${orderId} among them.`}
        </p>
        <p className="muted small">The link works for 24 hours, once. It is emailed to {email}.</p>
        {error && (
          <p className="form-error" role="alert" data-testid="card-link-error">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="button" onClick={() => make(false)} disabled={busy} data-testid="card-link-copy">
            Copy link only
          </button>
          <button type="button" className="primary" onClick={() => make(true)} disabled={busy} data-testid="card-link-send">
            {busy ? "Sending…" : "Email the link"}
          </button>
        </div>
      </div>
    </Dialog>
  );
}

/** The links sent to a patient, under their payment methods. */
export function CardLinksPanel({
  patientId,
  email,
  links,
  clinic,
  canSend,
  onChanged,
}: {
  patientId: PatientId;
  email: string;
  links: CardLinkView[];
  clinic: ClinicInfo;
  canSend: boolean;
  onChanged: () => void;
}) {
  const [sending, setSending] = useState(false);
  const onStripe = clinic.active_gateway === "stripe";
  return (
    <section className="card-links" data-testid="card-links" aria-labelledby="card-links-title">
      <div className="toolbar">
        <h2 id="card-links-title" className="section-title">
          Secure card links
        </h2>
        {canSend && onStripe && (
          <button type="button" onClick={() => setSending(true)} data-testid="send-card-link">
            Send a secure card link…
          </button>
        )}
      </div>
      {!onStripe && (
        <p className="muted small" data-testid="card-links-stripe-only">
          Secure card links are Stripe's: the clinic takes cards through {gatewayName(clinic.active_gateway)}, which has
          no page where a patient saves a card. Enter the card at the desk with Add payment method.
        </p>
      )}
      {links.length === 0 ? (
        onStripe && <p className="muted small">No link sent yet.</p>
      ) : (
        <ul className="card-link-list" data-testid="card-link-list">
          {links.map((l) => (
            <li key={l.id} data-testid="card-link" data-status={l.status}>
              <strong>{STATUS_WORDS[l.status]}</strong>
              {" · "}
              {l.sent_to ? `emailed to ${l.sent_to}` : "not emailed"} on {formatDateTime(l.created_at)}
              {l.created_by && ` by ${l.created_by}`}
              {l.status === "open" && ` · works until ${formatDateTime(l.expires_at)}`}
              {l.finished_at && l.status !== "open" && ` · ${formatDateTime(l.finished_at)}`}
              {l.order_id !== null && ` · for order #${l.order_id}`}
              {l.status === "failed" && l.outcome && <p className="muted small">{l.outcome}</p>}
              {l.status === "open" && l.url && (
                <button type="button" className="link" onClick={() => void copyText(l.url ?? "")}>
                  Copy link
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {sending && (
        <SendCardLinkDialog
          patientId={patientId}
          email={email}
          orderId={null}
          onClose={() => setSending(false)}
          onSent={() => {
            setSending(false);
            onChanged();
          }}
        />
      )}
    </section>
  );
}
