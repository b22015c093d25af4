// How updating stands on this desk, for the update prompt and Settings → Updates.
import { useCallback, useEffect, useState } from "react";
import { commands, type UpdateStatus_Serialize as UpdateStatus } from "../bindings";
import { call } from "../api";

/** How often the window asks the backend how updating stands (a local read, no network): often while
 * a check or a download is under way, so the prompt appears as soon as the check answers. */
const STATUS_EVERY_MS = 30_000;
const STATUS_BUSY_EVERY_MS = 1_000;
const BUSY: string[] = ["not_checked_yet", "checking", "downloading", "installing"];

export function useUpdateStatus(): [UpdateStatus | null, (s: UpdateStatus) => void, () => void] {
  const [status, setStatus] = useState<UpdateStatus | null>(null);
  const refresh = useCallback(() => {
    call(commands.updateStatus())
      .then(setStatus)
      .catch(() => undefined);
  }, []);
  const busy = status === null || BUSY.includes(status.phase.kind);
  useEffect(() => {
    refresh();
    const timer = window.setInterval(refresh, busy ? STATUS_BUSY_EVERY_MS : STATUS_EVERY_MS);
    return () => window.clearInterval(timer);
  }, [refresh, busy]);
  return [status, setStatus, refresh];
}
