import { describe, expect, it } from 'vitest';
import { frameBatch, type Scheduler } from '@/lib/frameBatch';
import { fmtTime } from '@/lib/utils';

/** A scheduler run by hand: frames and timers fire when the test says. */
function manual() {
  const frames: (() => void)[] = [];
  const timers: (() => void)[] = [];
  const sched: Scheduler = { frame: (cb) => frames.push(cb), later: (cb) => timers.push(cb) };
  return { sched, frame: () => frames.splice(0).forEach((f) => f()), timer: () => timers.splice(0).forEach((f) => f()) };
}

describe('stream messages a frame at a time', () => {
  it('hands everything queued before a frame to one apply, in order', () => {
    const m = manual();
    const got: number[][] = [];
    const b = frameBatch<number>((xs) => got.push(xs), 250, m.sched);
    for (let i = 0; i < 100; i++) b.push(i);
    expect(got).toEqual([]);
    expect(b.size).toBe(100);
    m.frame();
    expect(got.length).toBe(1);
    expect(got[0]).toEqual(Array.from({ length: 100 }, (_, i) => i));
    m.timer(); // the fallback of that batch finds nothing to do
    expect(got.length).toBe(1);
    b.push(100);
    m.frame();
    expect(got).toEqual([got[0], [100]]);
  });
  it('a hidden tab (no frames) is flushed by the timer', () => {
    const m = manual();
    const got: string[][] = [];
    const b = frameBatch<string>((xs) => got.push(xs), 250, m.sched);
    b.push('a');
    b.push('b');
    m.timer();
    expect(got).toEqual([['a', 'b']]);
    m.frame(); // the stale frame callback applies nothing twice
    expect(got).toEqual([['a', 'b']]);
  });
});

describe('times', () => {
  it('formats like toLocaleString with the same options, one formatter for all', () => {
    const t = Date.UTC(2026, 11, 4, 18, 5, 9);
    expect(fmtTime(t)).toBe(new Date(t).toLocaleString(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }));
    expect(fmtTime(null)).toBe('—');
    expect(fmtTime(NaN)).toBe('—');
  });
});
