import { forwardRef, useEffect, useImperativeHandle, useRef, useState, type KeyboardEvent } from "react";
import { commands, type Patient, type PatientId } from "../bindings";
import { ApiError, call, messageOf } from "../api";

export type PatientSearchHandle = { focus: () => void };

/** Type-ahead patient search: results as you type, arrows to move, Enter to open, Esc to close. */
export const PatientSearch = forwardRef<
  PatientSearchHandle,
  { onOpen: (id: PatientId) => void; onError: (e: ApiError) => void }
>(function PatientSearch({ onOpen, onError }, ref) {
  const input = useRef<HTMLInputElement>(null);
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<Patient[]>([]);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [searching, setSearching] = useState(false);
  const latest = useRef(0);

  useImperativeHandle(ref, () => ({ focus: () => input.current?.select() }), []);

  useEffect(() => {
    const q = query.trim();
    if (q === "") {
      setResults([]);
      setError(null);
      return;
    }
    // Only the answer to the newest keystroke is shown, whatever order answers arrive in.
    const ticket = ++latest.current;
    setSearching(true);
    const timer = window.setTimeout(() => {
      call(commands.searchPatients(q))
        .then((found) => {
          if (ticket !== latest.current) return;
          setResults(found);
          setActive(0);
          setError(null);
        })
        .catch((e: unknown) => {
          if (ticket !== latest.current) return;
          if (e instanceof ApiError) onError(e);
          setError(messageOf(e));
        })
        .finally(() => {
          if (ticket === latest.current) setSearching(false);
        });
    }, 40);
    return () => window.clearTimeout(timer);
  }, [query, onError]);

  function choose(p: Patient | undefined) {
    if (!p) return;
    onOpen(p.id);
    setOpen(false);
    input.current?.blur();
  }

  function onKeyDown(e: KeyboardEvent<HTMLInputElement>) {
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setOpen(true);
      setActive((a) => Math.min(a + 1, Math.max(results.length - 1, 0)));
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setActive((a) => Math.max(a - 1, 0));
    } else if (e.key === "Enter") {
      e.preventDefault();
      choose(results[active]);
    } else if (e.key === "Escape") {
      setOpen(false);
    }
  }

  const showList = open && query.trim() !== "";
  return (
    <div className="patient-search">
      <input
        ref={input}
        type="search"
        role="combobox"
        aria-label="Search patients by name, email or phone"
        aria-expanded={showList}
        aria-controls="patient-results"
        aria-activedescendant={showList && results[active] ? `patient-${results[active].id}` : undefined}
        placeholder="Search patients — name, email or phone  ( / )"
        value={query}
        data-testid="patient-search"
        onChange={(e) => {
          setQuery(e.target.value);
          setOpen(true);
        }}
        onFocus={() => setOpen(true)}
        onBlur={() =>
          // Close a moment later so a click on a result lands first; stay open if focus came back meanwhile.
          window.setTimeout(() => {
            if (document.activeElement !== input.current) setOpen(false);
          }, 150)
        }
        onKeyDown={onKeyDown}
      />
      {showList && (
        <ul className="results" id="patient-results" role="listbox" data-testid="patient-results">
          {error ? (
            <li className="result-note error-text" role="alert">
              {error}
            </li>
          ) : results.length === 0 ? (
            <li className="result-note">
              {searching ? "Searching…" : `No patient matches “${query.trim()}”. Try the start of a name, an email or a phone number.`}
            </li>
          ) : (
            results.map((p, i) => (
              <li
                key={p.id}
                id={`patient-${p.id}`}
                role="option"
                aria-selected={i === active}
                className={i === active ? "result active" : "result"}
                onMouseDown={(e) => {
                  e.preventDefault();
                  choose(p);
                }}
                onMouseEnter={() => setActive(i)}
                data-testid="patient-result"
              >
                <span className="result-name">{p.name}</span>
                <span className="muted">{p.email}</span>
                <span className="muted">{p.phone ?? ""}</span>
                {p.patient_type === "business" && <span className="chip">Business</span>}
              </li>
            ))
          )}
        </ul>
      )}
    </div>
  );
});
