// Loads data for a view: { data, loading, error, reload }. Ignores stale responses when deps
// change mid-flight.
import { useCallback, useEffect, useRef, useState } from 'react';
import { errorText, Latest } from './latest';

export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const gen = useRef(new Latest());
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(fn, deps);
  const reload = useCallback(async () => {
    const g = gen.current.next();
    setLoading(true);
    setError(null);
    try {
      const d = await run();
      if (gen.current.is(g)) setData(d);
    } catch (e) {
      if (gen.current.is(g)) setError(errorText(e));
    } finally {
      if (gen.current.is(g)) setLoading(false);
    }
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, loading, error, reload, setData };
}
