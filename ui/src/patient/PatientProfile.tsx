import { useCallback, useState } from "react";
import {
  commands,
  type CheckAction,
  type Check_Serialize,
  type ClinicInfo,
  type OrderId,
  type PatientAccount_Serialize,
  type PatientId,
  type PatientProfile_Serialize,
  type Session,
} from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { copyText } from "../shared/clipboard";
import { StatusChip } from "../shared/StatusChip";
import { useToast } from "../shared/Toasts";
import { useLoad } from "../hooks/useLoad";
import { useSubmit } from "../hooks/useSubmit";
import { useLiveReload } from "../live";
import { ActivityList } from "./ActivityList";
import { AddCardDialog } from "./AddCardDialog";
import { CardLinksPanel } from "./CardLinks";
import { may } from "../shared/permissions";
import { InvoicesTab } from "./InvoicesTab";
import { OrdersTab } from "./OrdersTab";
import { PaymentMethodsTable } from "./PaymentMethodsTable";
import { PaymentsTab } from "./PaymentsTab";
import { WhatToCheck } from "./WhatToCheck";

type Tab = "cards" | "invoices" | "orders" | "payments" | "activity";

type Loaded = { profile: PatientProfile_Serialize; account: PatientAccount_Serialize; checks: Check_Serialize[] };

const TABS: [Tab, string][] = [
  ["cards", "Payment methods"],
  ["invoices", "Invoices"],
  ["orders", "Orders & recovery"],
  ["payments", "Payments"],
  ["activity", "Activity"],
];

export function PatientProfileView({
  patientId,
  clinic,
  session,
  onError,
}: {
  patientId: PatientId;
  clinic: ClinicInfo;
  session: Session;
  onError: (e: ApiError) => void;
}) {
  const toast = useToast();
  const [checkOrder, setCheckOrder] = useState<OrderId | null>(null);
  const [tab, setTab] = useState<Tab>("cards");
  const [adding, setAdding] = useState(false);
  const { busy: escalating, submit } = useSubmit();

  const fetchPatient = useCallback(async (): Promise<Loaded> => {
    const [profile, account, checks] = await Promise.all([
      call(commands.patientProfile(patientId)),
      call(commands.patientAccount(patientId)),
      call(commands.whatToCheck(patientId, checkOrder)),
    ]);
    return { profile, account, checks };
  }, [patientId, checkOrder]);
  const { data, error, reload: load } = useLoad(fetchPatient, onError);
  // Another desk changed this patient's cards, payments or recovery: show it.
  useLiveReload((c) => c.patient_id === patientId, load);

  /** The escalation report, with the exact message that was on screen when there was one. */
  function escalate(shownMessage?: string) {
    void submit(
      async () => {
        const saved = await call(commands.escalationReport(patientId, checkOrder, shownMessage ?? null));
        const copied = await copyText(saved.text);
        toast.ok(
          `${copied ? "The escalation report is on the clipboard" : "The escalation report could not be copied"} and saved as ${saved.path}.`,
        );
      },
      (e) => toast.error(messageOf(e)),
    );
  }

  function act(a: CheckAction) {
    if (a === "add_card") {
      setTab("cards");
      setAdding(true);
    } else if (a === "choose_default") setTab("cards");
    else if (a === "open_invoices") setTab("invoices");
    else if (a === "open_orders") setTab("orders");
    else if (a === "open_payments") setTab("payments");
    else escalate();
  }

  if (error) {
    return (
      <div className="panel notice" role="alert" data-testid="profile-error">
        <p>{error}</p>
        <button type="button" onClick={() => void load()}>
          Try again
        </button>
      </div>
    );
  }
  if (!data) {
    return (
      <div className="skeleton" aria-busy="true" aria-label="Loading the patient">
        <div className="skeleton-line wide" />
        <div className="skeleton-line" />
        <div className="skeleton-block" />
      </div>
    );
  }
  const { profile, account, checks } = data;
  const p = profile.patient;
  const subscription = account.subscriptions.find((s) => s.status !== "CANCELLED") ?? account.subscriptions[0];
  const recovery = account.orders.find(
    (o) => o.recovery_status === "NEEDS_PAYMENT_METHOD" || o.recovery_status === "RETRY_SCHEDULED",
  );
  const count: Record<Tab, number | null> = {
    cards: profile.cards.length,
    invoices: account.invoices.length,
    orders: account.orders.length,
    payments: account.payments.length,
    activity: null,
  };
  return (
    <div className="profile-layout">
      <article className="profile" data-testid="patient-profile">
        <header className="profile-header">
          <h1 data-testid="patient-name">{p.name}</h1>
          <div className="profile-facts">
            <span className="chip">{p.patient_type === "business" ? "Business" : "Individual"}</span>
            <span>{p.email}</span>
            {p.phone && <span>{p.phone}</span>}
            {subscription && (
              <span>
                {subscription.plan}: <StatusChip status={subscription.status} testId="subscription-status" />
              </span>
            )}
            {recovery?.recovery_status && (
              <span>
                Recovery: <StatusChip status={recovery.recovery_status} testId="recovery-status" />
              </span>
            )}
          </div>
        </header>
        <div className="tabs" role="tablist" aria-label="Patient">
          {TABS.map(([id, label]) => (
            <button
              key={id}
              type="button"
              role="tab"
              aria-selected={tab === id}
              className={tab === id ? "tab active" : "tab"}
              onClick={() => setTab(id)}
              data-testid={`tab-${id}`}
            >
              {label} {count[id] !== null && <span className="count">{count[id]}</span>}
            </button>
          ))}
        </div>
        <section role="tabpanel" className="tab-panel">
          {tab === "cards" && (
            <>
              <PaymentMethodsTable
                cards={profile.cards}
                session={session}
                onChanged={() => void load()}
                onAdd={() => setAdding(true)}
              />
              <CardLinksPanel
                patientId={patientId}
                email={p.email}
                links={profile.card_links}
                clinic={clinic}
                canSend={may(session, "manage_cards")}
                onChanged={() => void load()}
              />
            </>
          )}
          {tab === "invoices" && (
            <InvoicesTab
              patientId={patientId}
              patientName={p.name}
              account={account}
              cards={profile.cards}
              activeGateway={clinic.active_gateway}
              session={session}
              onChanged={() => void load()}
              onEscalate={escalate}
            />
          )}
          {tab === "orders" && (
            <OrdersTab
              patientId={patientId}
              email={p.email}
              account={account}
              clinic={clinic}
              session={session}
              onChanged={() => void load()}
              onCheck={(o) => setCheckOrder(o.id)}
            />
          )}
          {tab === "payments" && (
            <PaymentsTab
              patientId={patientId}
              payments={account.payments}
              session={session}
              onChanged={() => void load()}
              onError={onError}
            />
          )}
          {tab === "activity" && <ActivityList entries={profile.activity} />}
        </section>
      </article>
      <WhatToCheck
        checks={checks}
        orderId={checkOrder}
        onAction={act}
        onEscalate={() => escalate()}
        onClearOrder={() => setCheckOrder(null)}
        busy={escalating}
      />
      {adding && (
        <AddCardDialog
          patientId={patientId}
          patientName={p.name}
          onClose={() => setAdding(false)}
          onSaved={(c) => {
            setAdding(false);
            toast.ok(c.message);
            void load();
            // Saving a card retries the patient's recovery orders in the background: look again shortly.
            window.setTimeout(() => void load(), 1500);
          }}
        />
      )}
    </div>
  );
}
