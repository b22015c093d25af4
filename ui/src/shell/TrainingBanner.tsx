export function TrainingBanner() {
  return (
    <div className="training-banner" role="status" data-testid="training-banner">
      <strong>Training mode</strong> — the demo clinic on the built-in gateway simulators. No real card is charged
      and no real money moves.
    </div>
  );
}
