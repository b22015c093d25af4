// A status as a coloured chip: green done, amber waiting, red needs someone, grey over.
type Tone = "green" | "amber" | "red" | "grey";

const STATUS_TONES: Record<string, Tone> = {
  PAID: "green",
  SUCCEEDED: "green",
  ACTIVE: "green",
  RESOLVED: "green",
  OPEN: "amber",
  AWAITING_PAYMENT: "amber",
  PENDING: "amber",
  UNKNOWN: "amber",
  RETRY_SCHEDULED: "amber",
  PAUSED: "amber",
  FAILED: "red",
  NEEDS_PAYMENT_METHOD: "red",
  FAILED_FINAL: "red",
  SUSPENDED: "red",
  REFUNDED: "grey",
  VOID: "grey",
  CANCELLED: "grey",
};

/** "NEEDS_PAYMENT_METHOD" → "Needs payment method". */
export function statusWords(status: string): string {
  const s = status.toLowerCase().replaceAll("_", " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function StatusChip({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`chip ${STATUS_TONES[status] ?? "grey"}`} data-testid={testId} data-status={status}>
      {statusWords(status)}
    </span>
  );
}
