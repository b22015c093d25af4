// Loading what a screen shows: once on opening and again on demand, with the error / data states every
// screen shares.
import { useCallback, useEffect, useState } from "react";
import { ApiError, messageOf } from "../api";

/** Calls `load` now and whenever it changes (or `reload` is called). A failure's sentence goes to `error`
 * and an `ApiError` to `onError` too (the shell signs out on `not_signed_in`). The data already shown stays
 * while a reload is under way, unless `clearWhileLoading`. */
export function useLoad<T>(
  load: () => Promise<T>,
  onError: (e: ApiError) => void,
  { clearWhileLoading = false }: { clearWhileLoading?: boolean } = {},
) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(async () => {
    setError(null);
    if (clearWhileLoading) setData(null);
    try {
      setData(await load());
    } catch (e) {
      if (e instanceof ApiError) onError(e);
      setError(messageOf(e));
    }
  }, [load, onError, clearWhileLoading]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, reload, setData };
}
