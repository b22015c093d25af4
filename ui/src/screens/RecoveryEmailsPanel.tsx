// Settings → Payment recovery emails (document 000, "What Happens When Cards Expire"): the words of the
// four emails a patient gets while a failed payment is recovered. A billing manager edits them, sees the
// email they make for an example patient, and saves; ClinicPay checks every placeholder first.
import { useCallback, useState } from "react";
import { commands, type Email, type NoticeTemplateView, type Session } from "../bindings";
import { ApiError, call } from "../api";
import { may } from "../shared/permissions";
import { useToast } from "../shared/Toasts";
import { useLoad } from "../hooks/useLoad";
import { useSubmit } from "../hooks/useSubmit";

const PLACEHOLDERS = "{patient_name}, {amount}, {card}, {description}, {update_link}, {clinic}";

function TemplateEditor({ view, editable, onSaved }: { view: NoticeTemplateView; editable: boolean; onSaved: () => void }) {
  const toast = useToast();
  const [subject, setSubject] = useState(view.template.subject);
  const [body, setBody] = useState(view.template.body);
  const [preview, setPreview] = useState<Email | null>(null);
  const { busy, error, submit } = useSubmit();
  const id = `notice-${view.stage}`;
  return (
    <details className="notice-template" data-testid="notice-template" data-stage={view.stage}>
      <summary>
        {view.title} {view.edited && <span className="chip">Edited</span>}
      </summary>
      <div className="stack">
        <label htmlFor={`${id}-subject`}>Subject</label>
        <input
          id={`${id}-subject`}
          value={subject}
          maxLength={200}
          disabled={!editable || busy}
          onChange={(e) => setSubject(e.target.value)}
          data-testid="notice-subject"
        />
        <label htmlFor={`${id}-body`}>Text</label>
        <textarea
          id={`${id}-body`}
          rows={8}
          value={body}
          disabled={!editable || busy}
          onChange={(e) => setBody(e.target.value)}
          data-testid="notice-body"
        />
        {error && (
          <p className="form-error" role="alert" data-testid="notice-error">
            {error}
          </p>
        )}
        {preview && (
          <div className="panel email-preview" data-testid="notice-preview">
            <p>
              <strong>{preview.subject}</strong>
            </p>
            <pre>{preview.body}</pre>
          </div>
        )}
        <div className="actions">
          <button
            type="button"
            disabled={busy}
            onClick={() => void submit(async () => setPreview(await call(commands.previewNoticeTemplate(view.stage, subject, body))))}
            data-testid="notice-preview-button"
          >
            Preview
          </button>
          {editable && (
            <button
              type="button"
              className="primary"
              disabled={busy}
              onClick={() =>
                void submit(async () => {
                  await call(commands.setNoticeTemplate(view.stage, subject, body));
                  toast.ok(`${view.title}: saved.`);
                  onSaved();
                })
              }
              data-testid="notice-save"
            >
              Save
            </button>
          )}
        </div>
      </div>
    </details>
  );
}

export function RecoveryEmailsPanel({ session, onError }: { session: Session; onError: (e: ApiError) => void }) {
  const load = useCallback(() => call(commands.noticeTemplates()), []);
  const { data, error, reload } = useLoad(load, onError);
  const editable = may(session, "change_settings");
  return (
    <section className="panel" aria-labelledby="recovery-emails-title" data-testid="recovery-emails-panel">
      <h2 id="recovery-emails-title">Payment recovery emails</h2>
      <p className="muted small">
        Sent to the patient while a failed payment is recovered, each once per order, when recovery.emails is true and a
        mail server is set: the first failure notice, a warning from day 4, a request to update the card, and the final
        notice. Placeholders: {PLACEHOLDERS}.
      </p>
      {error && <p className="form-error">{error}</p>}
      {data?.map((v) => (
        <TemplateEditor key={`${v.stage}-${v.template.subject}-${v.template.body}`} view={v} editable={editable} onSaved={() => void reload()} />
      ))}
    </section>
  );
}
