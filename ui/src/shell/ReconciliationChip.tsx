// The day's reconciliation verdict on the top bar, for billing managers, when it is not clean: one
// click opens the Reconciliation screen.
import { useCallback } from "react";
import { commands, type ReconciliationVerdict } from "../bindings";
import { ApiError, call } from "../api";
import { useLoad } from "../hooks/useLoad";

export function ReconciliationChip({ onOpen, onError }: { onOpen: () => void; onError: (e: ApiError) => void }) {
  const load = useCallback(() => call(commands.reconciliationVerdict()), []);
  const { data } = useLoad<ReconciliationVerdict | null>(load, onError);
  if (!data || data.clean) return null;
  return (
    <button
      type="button"
      className="chip amber"
      onClick={onOpen}
      title={data.verdict}
      data-testid="reconciliation-chip"
    >
      {data.unavailable && data.mismatches === 0
        ? `Reconciliation of ${data.day}: a gateway could not be asked`
        : `Reconciliation of ${data.day}: ${data.mismatches} to look at`}
    </button>
  );
}
