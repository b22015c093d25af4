import { useEffect, useState } from "react";
import { Channel } from "@tauri-apps/api/core";
import { commands, type SweepProgress } from "../bindings";
import { call, messageOf } from "../api";
import { useToast } from "../shared/Toasts";
import { useSubmit } from "../hooks/useSubmit";

/** A billing manager's sweep over every open recovery order, with a progress bar and Cancel. */
export function RecoverySweep({
  onFinished,
  onRunning,
}: {
  onFinished: () => void;
  onRunning?: (running: boolean) => void;
}) {
  const toast = useToast();
  const [progress, setProgress] = useState<SweepProgress | null>(null);
  const { busy: running, submit } = useSubmit();
  useEffect(() => onRunning?.(running), [running, onRunning]);
  async function start() {
    if (running) return;
    await submit(
      async () => {
        // An update for each order is drawn at most once a frame: the newest when the frame comes.
        let latest: SweepProgress | null = null;
        let frame = 0;
        const channel = new Channel<SweepProgress>();
        channel.onmessage = (p) => {
          latest = p;
          frame ||= requestAnimationFrame(() => {
            frame = 0;
            setProgress(latest);
          });
        };
        const end = await call(commands.recoverySweep(channel)).finally(() => cancelAnimationFrame(frame));
        setProgress(end);
        toast.ok(
          end.cancelled
            ? `Sweep cancelled after ${end.done} of ${end.total} orders: ${end.paid} paid. The rest wait for their scheduled retry.`
            : `Sweep finished: ${end.paid} of ${end.total} orders paid. The others still need a card or will be retried on schedule.`,
        );
      },
      (e) => toast.error(messageOf(e)),
    );
    onFinished();
  }
  const pct = progress && progress.total > 0 ? Math.round((progress.done / progress.total) * 100) : 0;
  return (
    <div className="sweep" data-testid="recovery-sweep">
      {running ? (
        <>
          <div
            className="progress"
            role="progressbar"
            aria-label="Recovery sweep"
            aria-valuemin={0}
            aria-valuemax={progress?.total ?? 0}
            aria-valuenow={progress?.done ?? 0}
          >
            <div className="progress-bar" style={{ transform: `scaleX(${pct / 100})` }} />
          </div>
          <span data-testid="sweep-counts">
            {progress ? `${progress.done} of ${progress.total} orders · ${progress.paid} paid` : "Starting…"}
          </span>
          <button type="button" onClick={() => void call(commands.cancelRecoverySweep())} data-testid="cancel-sweep">
            Cancel
          </button>
        </>
      ) : (
        <button type="button" className="primary" onClick={() => void start()} data-testid="start-sweep">
          Retry all open recovery orders now
        </button>
      )}
    </div>
  );
}
