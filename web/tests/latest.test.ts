import { describe, expect, it } from 'vitest';
import { Latest, liveLoader, shared } from '@/lib/latest';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Latest', () => {
  it('only the newest token is current; invalidate makes all stale', () => {
    const l = new Latest();
    const a = l.next();
    const b = l.next();
    expect(l.is(a)).toBe(false);
    expect(l.is(b)).toBe(true);
    l.invalidate();
    expect(l.is(b)).toBe(false);
  });
});

describe('liveLoader', () => {
  it('drops a slow response that a newer load replaced, and its error', async () => {
    const states: unknown[] = [];
    const loader = liveLoader<string>((p) => states.push(p));
    const slow = deferred<string>();
    const fast = deferred<string>();
    const applied: string[] = [];
    const p1 = loader.run(() => slow.promise, (r) => applied.push(r));
    const p2 = loader.run(() => fast.promise, (r) => applied.push(r));
    fast.resolve('new');
    await p2;
    slow.reject(new Error('late failure'));
    await p1;
    expect(applied).toEqual(['new']);
    expect(states).toEqual([{ loading: true, error: null }, { loading: true, error: null }]);
  });

  it('hands the live items noted during the load to apply, and none after', async () => {
    const loader = liveLoader<string>(() => {});
    const d = deferred<string[]>();
    let seen: string[] = [];
    loader.note('before'); // no load in flight: not kept
    const p = loader.run(() => d.promise, (_r, live) => (seen = live));
    loader.note('a');
    loader.note('b');
    d.resolve([]);
    await p;
    expect(seen).toEqual(['a', 'b']);
    const p2 = loader.run(() => Promise.resolve([]), (_r, live) => (seen = live));
    await p2;
    expect(seen).toEqual([]);
  });

  it('reports the error of the latest load', async () => {
    const states: { loading: boolean; error: string | null }[] = [];
    const loader = liveLoader<string>((p) => states.push(p));
    await loader.run(() => Promise.reject(new Error('boom')), () => {});
    expect(states.at(-1)).toEqual({ loading: false, error: 'boom' });
  });
});

describe('shared', () => {
  it('calls made while one is in flight share it; the next call starts anew', async () => {
    let calls = 0;
    const d = deferred<number>();
    const f = shared(() => {
      calls++;
      return d.promise;
    });
    const a = f();
    const b = f();
    expect(a).toBe(b);
    d.resolve(1);
    await a;
    void f();
    expect(calls).toBe(2);
  });
});
