// Settings → Staff (IT): every account, its role, switched on or off, a new password for someone who
// forgot theirs, and a new account. Each change is checked and logged by the services; a role change or
// a switched-off account takes effect at that person's next click, at every desk.
import { useCallback, useState, type FormEvent } from "react";
import { commands, type Role, type StaffView } from "../bindings";
import { ApiError, call } from "../api";
import { Dialog } from "../shared/Dialog";
import { useToast } from "../shared/Toasts";
import { useLoad } from "../hooks/useLoad";
import { useSubmit } from "../hooks/useSubmit";

const ROLES: [Role, string][] = [
  ["front_desk", "Front desk"],
  ["billing_manager", "Billing manager"],
  ["it_admin", "IT"],
  ["worker", "Billing worker (a service)"],
];

export function StaffPanel({ me, onError }: { me: string; onError: (e: ApiError) => void }) {
  const load = useCallback(() => call(commands.staffAccounts()), []);
  const { data, error, reload } = useLoad<StaffView[]>(load, onError);
  const [resetting, setResetting] = useState<StaffView | null>(null);
  const [adding, setAdding] = useState(false);
  return (
    <section className="panel" aria-labelledby="staff-title" data-testid="staff-panel">
      <h2 id="staff-title">Staff</h2>
      <p className="muted">
        Who can sign in and what they may do. A change applies at that person&apos;s next click, at every desk.
      </p>
      {error && <p className="form-error">{error}</p>}
      {data && (
        <table className="data-table">
          <thead>
            <tr>
              <th scope="col">Sign-in name</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Account</th>
              <th scope="col">Password</th>
            </tr>
          </thead>
          <tbody>
            {data.map((m) => (
              <StaffRow key={m.id} member={m} me={m.username === me} onChanged={() => void reload()} onReset={setResetting} />
            ))}
          </tbody>
        </table>
      )}
      <button type="button" onClick={() => setAdding(true)} data-testid="add-staff">
        Add a staff account
      </button>
      {resetting && <ResetPasswordDialog member={resetting} onClose={() => setResetting(null)} />}
      {adding && (
        <AddStaffDialog
          onClose={() => setAdding(false)}
          onAdded={() => {
            setAdding(false);
            void reload();
          }}
        />
      )}
    </section>
  );
}

function StaffRow({
  member,
  me,
  onChanged,
  onReset,
}: {
  member: StaffView;
  me: boolean;
  onChanged: () => void;
  onReset: (m: StaffView) => void;
}) {
  const toast = useToast();
  const { busy, submit } = useSubmit();
  const fail = (e: unknown) => toast.error(e instanceof ApiError ? e.message : String(e));
  function setRole(role: Role) {
    void submit(async () => {
      await call(commands.setStaffRole(member.username, role));
      toast.ok(`${member.username} is now ${ROLES.find(([r]) => r === role)?.[1] ?? role}.`);
      onChanged();
    }, fail);
  }
  function setActive(active: boolean) {
    void submit(async () => {
      await call(commands.setStaffActive(member.username, active));
      toast.ok(active ? `${member.username} can sign in again.` : `${member.username} is switched off.`);
      onChanged();
    }, fail);
  }
  return (
    <tr data-testid="staff-row" data-username={member.username}>
      <td>{member.username}</td>
      <td>{member.display_name}</td>
      <td>
        <select
          aria-label={`Role of ${member.username}`}
          value={member.role}
          disabled={busy || me}
          title={me ? "Another IT account changes your own role." : undefined}
          onChange={(e) => setRole(e.target.value as Role)}
          data-testid="staff-role"
        >
          {ROLES.map(([r, label]) => (
            <option key={r} value={r}>
              {label}
            </option>
          ))}
        </select>
      </td>
      <td>
        {member.active ? <span className="chip green">On</span> : <span className="chip">Switched off</span>}{" "}
        {!me && (
          <button type="button" className="link" disabled={busy} onClick={() => setActive(!member.active)} data-testid="staff-active">
            {member.active ? "Switch off" : "Switch on"}
          </button>
        )}
      </td>
      <td>
        <button type="button" className="link" disabled={busy} onClick={() => onReset(member)} data-testid="staff-reset">
          Set a new password
        </button>
      </td>
    </tr>
  );
}

function ResetPasswordDialog({ member, onClose }: { member: StaffView; onClose: () => void }) {
  const toast = useToast();
  const [password, setPassword] = useState("");
  const { busy, error, submit } = useSubmit();
  function save(e: FormEvent) {
    e.preventDefault();
    void submit(async () => {
      await call(commands.resetStaffPassword(member.username, password));
      toast.ok(`New password set for ${member.username}. Give it to them in person; they can change it in Settings.`);
      onClose();
    });
  }
  return (
    <Dialog title={`New password for ${member.username}`} onClose={onClose} busy={busy} testId="reset-password-dialog">
      <form className="stack" onSubmit={save}>
        <p className="muted">It also ends a lock-out and signs {member.username} out at every desk.</p>
        <label>
          New password (at least 12 characters)
          <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="reset-password" />
        </label>
        {error && <p className="form-error">{error}</p>}
        <button type="submit" disabled={busy || password.length === 0}>
          Set password
        </button>
      </form>
    </Dialog>
  );
}

function AddStaffDialog({ onClose, onAdded }: { onClose: () => void; onAdded: () => void }) {
  const toast = useToast();
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState<Role>("front_desk");
  const [password, setPassword] = useState("");
  const { busy, error, submit } = useSubmit();
  function save(e: FormEvent) {
    e.preventDefault();
    void submit(async () => {
      const added = await call(commands.addStaffAccount(username, displayName, role, password));
      toast.ok(`${added.username} can sign in now.`);
      onAdded();
    });
  }
  return (
    <Dialog title="Add a staff account" onClose={onClose} busy={busy} testId="add-staff-dialog">
      <form className="stack" onSubmit={save}>
        <label>
          Sign-in name
          <input value={username} autoComplete="off" onChange={(e) => setUsername(e.target.value)} data-testid="new-staff-username" />
        </label>
        <label>
          Name
          <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} data-testid="new-staff-name" />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)} data-testid="new-staff-role">
            {ROLES.map(([r, label]) => (
              <option key={r} value={r}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Password (at least 12 characters)
          <input type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="new-staff-password" />
        </label>
        {error && <p className="form-error">{error}</p>}
        <button type="submit" disabled={busy || username.trim() === "" || password === ""}>
          Add account
        </button>
      </form>
    </Dialog>
  );
}
