import { useCallback, useEffect, useState } from "react";
import { commands, type PatientId, type PatientProfile } from "../bindings";
import { ApiError, call, messageOf } from "../api";
import { PaymentMethodsTable } from "./PaymentMethodsTable";
import { ActivityList } from "./ActivityList";

type Tab = "cards" | "activity";

export function PatientProfileView({ patientId, onError }: { patientId: PatientId; onError: (e: ApiError) => void }) {
  const [profile, setProfile] = useState<PatientProfile | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tab, setTab] = useState<Tab>("cards");

  const load = useCallback(async () => {
    setError(null);
    try {
      setProfile(await call(commands.patientProfile(patientId)));
    } catch (e) {
      if (e instanceof ApiError) onError(e);
      setError(messageOf(e));
    }
  }, [patientId, onError]);

  useEffect(() => {
    void load();
  }, [load]);

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
  if (!profile) {
    return (
      <div className="skeleton" aria-busy="true" aria-label="Loading the patient">
        <div className="skeleton-line wide" />
        <div className="skeleton-line" />
        <div className="skeleton-block" />
      </div>
    );
  }
  const p = profile.patient;
  return (
    <article className="profile" data-testid="patient-profile">
      <header className="profile-header">
        <h1 data-testid="patient-name">{p.name}</h1>
        <div className="profile-facts">
          <span className="chip">{p.patient_type === "business" ? "Business" : "Individual"}</span>
          <span>{p.email}</span>
          {p.phone && <span>{p.phone}</span>}
        </div>
      </header>
      <div className="tabs" role="tablist" aria-label="Patient">
        <button
          type="button"
          role="tab"
          aria-selected={tab === "cards"}
          className={tab === "cards" ? "tab active" : "tab"}
          onClick={() => setTab("cards")}
          data-testid="tab-cards"
        >
          Payment methods <span className="count">{profile.cards.length}</span>
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={tab === "activity"}
          className={tab === "activity" ? "tab active" : "tab"}
          onClick={() => setTab("activity")}
          data-testid="tab-activity"
        >
          Activity
        </button>
      </div>
      <section role="tabpanel" className="tab-panel">
        {tab === "cards" ? <PaymentMethodsTable cards={profile.cards} /> : <ActivityList entries={profile.activity} />}
      </section>
    </article>
  );
}
