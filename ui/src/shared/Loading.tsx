/** What a screen shows until its data is there: a skeleton, or the error with "Try again". */
export function Loading({ error, retry }: { error: string | null; retry: () => void }) {
  if (error)
    return (
      <div className="panel notice" role="alert">
        <p>{error}</p>
        <button type="button" onClick={retry}>
          Try again
        </button>
      </div>
    );
  return (
    <div className="skeleton" aria-busy="true" aria-label="Loading">
      <div className="skeleton-line wide" />
      <div className="skeleton-block" />
    </div>
  );
}
