// The race guards every store and view shared as copies: a list load whose slow response must
// not overwrite newer state and must not lose live items that arrived while it was in flight,
// and a plain "only the latest request applies" token for detail loads.

/** A generation counter: `next()` starts a request, `is(token)` says it is still the latest. */
export class Latest {
  private n = 0;
  next(): number {
    return ++this.n;
  }
  is(token: number): boolean {
    return token === this.n;
  }
  /** Makes every request in flight stale (e.g. a write applied its newer result). */
  invalidate(): void {
    this.n++;
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A list load with live additions: `run(fetch, apply)` sets loading/error through `set`, drops
 * the result of any load that a newer one replaced, and hands `apply` the live items `note`d
 * while it was in flight (to merge into the fresh list; `apply` clears `loading`).
 */
export function liveLoader<L>(set: (p: { loading: boolean; error: string | null }) => void) {
  const gen = new Latest();
  let inFlight = false;
  let live: L[] = [];
  return {
    /** A live item arrived: kept for the load in flight, if any. */
    note(item: L): void {
      if (inFlight) live.push(item);
    },
    async run<R>(fetch: () => Promise<R>, apply: (result: R, liveDuringLoad: L[]) => void): Promise<void> {
      const g = gen.next();
      inFlight = true;
      live = [];
      set({ loading: true, error: null });
      try {
        const r = await fetch();
        if (!gen.is(g)) return;
        const l = live;
        inFlight = false;
        live = [];
        apply(r, l);
      } catch (e) {
        if (!gen.is(g)) return;
        inFlight = false;
        live = [];
        set({ loading: false, error: errorText(e) });
      }
    },
  };
}

/** Calls made while one is in flight share it (e.g. many views asking for the same list). */
export function shared<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () =>
    (p ??= fn().finally(() => {
      p = null;
    }));
}
