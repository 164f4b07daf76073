// A query that stays current: useAsync plus a refetch when the live stream reports a change of
// the kinds given (debounced, so a burst of events costs one request), every `everyMs`, and when
// the server answers again after being down. The last data stays shown while refetching or
// when a refetch fails (`error` is then set, and views mark the data stale).
import { useEffect, useRef } from 'react';
import { liveStream } from '@/api/stream';
import type { StreamMessage } from '@/api/types';
import { onServerBack } from '@/stores/connection';
import { useAsync } from './useAsync';

export interface LiveQueryOptions {
  /** stream message types that may change the result */
  on?: StreamMessage['type'][];
  everyMs?: number;
  debounceMs?: number;
}

export function useLiveQuery<T>(fn: () => Promise<T>, deps: unknown[], { on = [], everyMs = 30_000, debounceMs = 500 }: LiveQueryOptions = {}) {
  const q = useAsync(fn, deps);
  const reload = useRef(q.reload);
  reload.current = q.reload;
  const kinds = on.join(',');
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const soon = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        void reload.current();
      }, debounceMs);
    };
    const wanted = new Set(kinds ? kinds.split(',') : []);
    const off = wanted.size ? liveStream.on((m) => wanted.has(m.type) && soon()) : () => {};
    const offBack = onServerBack(() => void reload.current());
    const every = setInterval(() => void reload.current(), everyMs);
    return () => {
      off();
      offBack();
      clearInterval(every);
      if (timer) clearTimeout(timer);
    };
  }, [kinds, everyMs, debounceMs]);
  return q;
}
