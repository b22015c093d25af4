// Document 000's "Managing Expiring Cards": every card expiring soon (or already expired), who depends on
// it, whether the patient has another valid card, and Update / Notify; select all → send reminders.
import { useCallback, useEffect, useRef, useState } from "react";
import {
  commands,
  type ClinicInfo,
  type ExpiringCard,
  type ExpiringCards,
  type ExpiringCursor,
  type PatientId,
  type PatientType,
  type Session,
} from "../bindings";
import { SendCardLinkDialog } from "../patient/CardLinks";
import { ApiError, call, messageOf } from "../api";
import { gatewayName } from "../format";
import { may } from "../shared/permissions";
import { useToast } from "../shared/Toasts";
import { useLoad } from "../hooks/useLoad";
import { useSubmit } from "../hooks/useSubmit";

type Range = "30" | "60" | "90" | "expired";

export function ExpiringCardsScreen({
  session,
  clinic,
  onOpenPatient,
  onError,
}: {
  session: Session;
  clinic: ClinicInfo;
  onOpenPatient: (id: PatientId) => void;
  onError: (e: ApiError) => void;
}) {
  const toast = useToast();
  const [range, setRange] = useState<Range>("60");
  const [type, setType] = useState<PatientType | "all">("all");
  // Document 000's "Service Type": the plans that need the card. Its choices outlive a reload.
  const [service, setService] = useState<string>("");
  const [services, setServices] = useState<string[]>([]);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const { busy: sending, submit } = useSubmit();
  const canNotify = may(session, "send_reminders");
  // The patient saves their new card on Stripe's page themselves (Stripe only).
  const canLink = may(session, "manage_cards") && clinic.active_gateway === "stripe";
  const [linking, setLinking] = useState<ExpiringCard | null>(null);
  // The pages "Show more" brought after the first, and where the next one starts.
  const [more, setMore] = useState<{ cards: ExpiringCard[]; next: ExpiringCursor | null } | null>(null);
  const { busy: loadingMore, submit: submitMore } = useSubmit();
  // Which list a page belongs to: one that comes after the filter changed is dropped.
  const list = useRef(0);

  const page = useCallback(
    (after: ExpiringCursor | null): Promise<ExpiringCards> =>
      call(
        commands.expiringCards(
          range === "expired" ? null : Number(range),
          range === "expired",
          type === "all" ? null : type,
          service === "" ? null : service,
          after,
        ),
      ),
    [range, type, service],
  );
  // A new window or filter starts from nothing: no stale rows, nothing selected.
  const fetchCards = useCallback((): Promise<ExpiringCards> => {
    setSelected(new Set());
    setMore(null);
    list.current += 1;
    return page(null);
  }, [page]);
  const { data, error, reload: load } = useLoad(fetchCards, onError, { clearWhileLoading: true });
  useEffect(() => {
    if (data) setServices(data.services);
  }, [data]);

  function notify(ids: number[]) {
    if (ids.length === 0) return;
    void submit(
      async () => {
        const r = await call(commands.notifyCards(ids));
        const parts = [`${r.sent} reminder${r.sent === 1 ? "" : "s"} sent`];
        if (r.skipped) parts.push(`${r.skipped} already sent today`);
        if (r.failed) parts.push(`${r.failed} refused by the mail server (ClinicPay retries them)`);
        (r.failed ? toast.error : toast.ok)(`${parts.join(", ")}.`);
        setSelected(new Set());
      },
      (e) => toast.error(messageOf(e)),
    );
  }

  const cards = more ? [...(data?.cards ?? []), ...more.cards] : (data?.cards ?? []);
  const next = more ? more.next : (data?.next ?? null);

  function showMore() {
    if (!next) return;
    void submitMore(
      async () => {
        const of = list.current;
        const got = await page(next);
        if (of !== list.current) return;
        setMore((m) => ({ cards: [...(m?.cards ?? []), ...got.cards], next: got.next ?? null }));
      },
      (e) => toast.error(messageOf(e)),
    );
  }
  const allSelected = cards.length > 0 && selected.size === cards.length;
  return (
    <section className="stack" data-testid="expiring-screen">
      <h1>Expiring cards</h1>
      <p className="muted">
        Cards that expire soon stop paying invoices and subscriptions. Ask the patient for the new card (Update opens
        their payment methods) or send them a reminder.
      </p>
      <div className="toolbar filters">
        <div className="segmented" role="group" aria-label="Expiry window">
          {(
            [
              ["30", "Next 30 days"],
              ["60", "Next 60 days"],
              ["90", "Next 90 days"],
              ["expired", "Already expired"],
            ] as [Range, string][]
          ).map(([w, label]) => (
            <button
              key={w}
              type="button"
              aria-pressed={range === w}
              className={range === w ? "active" : undefined}
              onClick={() => setRange(w)}
              data-testid={`window-${w}`}
            >
              {label}
            </button>
          ))}
        </div>
        <label className="inline-label">
          Patients
          <select
            value={type}
            onChange={(e) => setType(e.target.value as PatientType | "all")}
            data-testid="patient-type-filter"
          >
            <option value="all">All</option>
            <option value="individual">Individuals</option>
            <option value="business">Businesses</option>
          </select>
        </label>
        <label className="inline-label">
          Service
          <select value={service} onChange={(e) => setService(e.target.value)} data-testid="service-filter">
            <option value="">All services</option>
            {services.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        {canNotify && (
          <button
            type="button"
            className="primary"
            disabled={selected.size === 0 || sending}
            onClick={() => notify([...selected])}
            data-testid="notify-selected"
          >
            {sending ? "Sending…" : `Send reminders (${selected.size})`}
          </button>
        )}
      </div>
      {error ? (
        <div className="panel notice" role="alert">
          <p>{error}</p>
          <button type="button" onClick={() => void load()}>
            Try again
          </button>
        </div>
      ) : !data ? (
        <div className="skeleton" aria-busy="true" aria-label="Loading">
          <div className="skeleton-line wide" />
          <div className="skeleton-block" />
        </div>
      ) : cards.length === 0 ? (
        <div className="empty-state small" data-testid="no-expiring">
          <p>No card matches. Nothing to chase for this window.</p>
        </div>
      ) : (
        <>
          <p className="muted small" data-testid="expiring-count">
            {cards.length} card{cards.length === 1 ? "" : "s"}
            {next ? " shown, soonest first; more match: Show more at the end of the list, or narrow the filter" : ""}.
          </p>
          {data.not_checked > 0 && (
            <p className="warning" role="status" data-testid="expiring-not-checked">
              {data.not_checked} card{data.not_checked === 1 ? "" : "s"} at the top could not be checked with the
              gateway just now: the card network may already have renewed {data.not_checked === 1 ? "it" : "them"}.
              ClinicPay checks again before any reminder goes out.
            </p>
          )}
          <table className="data-table" data-testid="expiring-table">
            <thead>
              <tr>
                {canNotify && (
                  <th scope="col">
                    <input
                      type="checkbox"
                      aria-label="Select all"
                      checked={allSelected}
                      onChange={() => setSelected(allSelected ? new Set() : new Set(cards.map((c) => c.card_id)))}
                      data-testid="select-all"
                    />
                  </th>
                )}
                <th scope="col">Patient</th>
                <th scope="col">Card</th>
                <th scope="col">Expiry</th>
                <th scope="col">Days</th>
                <th scope="col">Another valid card</th>
                <th scope="col">Service that depends on it</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {cards.map((c) => (
                <tr key={c.card_id} data-testid="expiring-row" data-card={c.card_id}>
                  {canNotify && (
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${c.patient_name}'s ${c.brand} ending in ${c.last4}`}
                        checked={selected.has(c.card_id)}
                        onChange={() => {
                          const next = new Set(selected);
                          if (next.has(c.card_id)) next.delete(c.card_id);
                          else next.add(c.card_id);
                          setSelected(next);
                        }}
                      />
                    </td>
                  )}
                  <td>
                    {c.patient_name}
                    {c.patient_type === "business" && <span className="chip">Business</span>}
                  </td>
                  <td className="nowrap">
                    {c.brand} ••{c.last4} <span className="chip">{gatewayName(c.gateway)}</span>
                  </td>
                  <td>
                    {c.expiry}
                    {c.renewed_by_network && (
                      <span className="chip" data-testid="renewed-by-network">
                        renewed by the network
                      </span>
                    )}
                  </td>
                  <td data-testid="expiring-days">
                    {c.expired ? (
                      <span className="chip red">EXPIRED</span>
                    ) : (
                      <span className={`chip ${c.days_until_expiry <= 30 ? "red" : "amber"}`}>
                        {c.days_until_expiry === 0 ? "today" : `${c.days_until_expiry} days`}
                      </span>
                    )}
                  </td>
                  <td>{c.has_other_valid_card ? "Yes" : <strong>No</strong>}</td>
                  <td>{c.plans.length ? c.plans.join(", ") : <span className="muted">—</span>}</td>
                  <td className="row-actions">
                    <button type="button" onClick={() => onOpenPatient(c.patient_id)} data-testid="update-card">
                      Update
                    </button>
                    {canLink && (
                      <button type="button" onClick={() => setLinking(c)} data-testid="expiring-card-link">
                        Card link…
                      </button>
                    )}
                    {canNotify && (
                      <button
                        type="button"
                        onClick={() => notify([c.card_id])}
                        disabled={sending}
                        data-testid="notify-one"
                      >
                        Notify
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {next && (
            <div className="actions">
              <button type="button" onClick={showMore} disabled={loadingMore} data-testid="expiring-more">
                {loadingMore ? "Loading…" : "Show more"}
              </button>
            </div>
          )}
        </>
      )}
      {linking && (
        <SendCardLinkDialog
          patientId={linking.patient_id}
          email={linking.patient_email}
          orderId={null}
          onClose={() => setLinking(null)}
          onSent={() => setLinking(null)}
        />
      )}
    </section>
  );
}
