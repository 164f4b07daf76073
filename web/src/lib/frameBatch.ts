// Live stream messages are applied once per animation frame, not one by one: a burst of
// hundreds of messages a second (a first run's backfill, a fleet reconnecting) costs one store
// update and one render per frame instead of one per message. A hidden tab gets no animation
// frames: a timer flushes then, so the stores stay current for when it is shown again.

export interface FrameBatch<T> {
  push(item: T): void;
  /** Applies what is queued now (tests; a caller that must not wait). */
  flush(): void;
  /** Queued and not applied yet. */
  readonly size: number;
}

export interface Scheduler {
  frame(cb: () => void): void;
  later(cb: () => void, ms: number): void;
}

const browser: Scheduler = {
  frame: (cb) => (typeof requestAnimationFrame === 'function' ? requestAnimationFrame(() => cb()) : setTimeout(cb, 16)),
  later: (cb, ms) => setTimeout(cb, ms),
};

/** Queues items and hands them, in arrival order, to `apply` on the next frame (or after
 * `maxWaitMs` when no frame comes). */
export function frameBatch<T>(apply: (items: T[]) => void, maxWaitMs = 250, sched: Scheduler = browser): FrameBatch<T> {
  let queue: T[] = [];
  let scheduled = false;
  let gen = 0;
  const flush = () => {
    gen++;
    scheduled = false;
    if (queue.length === 0) return;
    const q = queue;
    queue = [];
    apply(q);
  };
  return {
    push(item) {
      queue.push(item);
      if (scheduled) return;
      scheduled = true;
      const g = gen;
      // whichever comes first; the other finds the generation moved on
      sched.frame(() => g === gen && flush());
      sched.later(() => g === gen && flush(), maxWaitMs);
    },
    flush,
    get size() {
      return queue.length;
    },
  };
}
