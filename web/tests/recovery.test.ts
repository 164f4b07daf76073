import { afterEach, describe, expect, it, vi } from 'vitest';
import { claimAutoReload, isChunkLoadError, RELOAD_GUARD_MS } from '@/components/ErrorBoundary';
import { moveActive } from '@/components/DevicePicker';
import { markReached, markUnreachable, onServerBack, probeServer, useConnection } from '@/stores/connection';
import { api } from '@/api/client';

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('chunk-load errors', () => {
  it('recognizes the browsers’ dynamic-import failures and nothing else', () => {
    expect(isChunkLoadError(new TypeError('Failed to fetch dynamically imported module: http://x/assets/DevicesPage-abc.js'))).toBe(true);
    expect(isChunkLoadError(new TypeError('error loading dynamically imported module'))).toBe(true);
    expect(isChunkLoadError(new TypeError('Importing a module script failed.'))).toBe(true);
    expect(isChunkLoadError(new Error('Unable to preload CSS for /assets/index.css'))).toBe(true);
    expect(isChunkLoadError(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
  });
  it('reloads by itself at most once per guard period', () => {
    const store = new Map<string, string>();
    const s = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    expect(claimAutoReload(s, 1_000_000)).toBe(true);
    expect(claimAutoReload(s, 1_000_000 + RELOAD_GUARD_MS - 1)).toBe(false);
    expect(claimAutoReload(s, 1_000_000 + RELOAD_GUARD_MS)).toBe(true);
  });
});

describe('server reachability', () => {
  it('a request that gets no answer marks the server down; the next answer brings it back once', async () => {
    markReached();
    const back = vi.fn();
    const off = onServerBack(back);
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    await api.devices().catch(() => {});
    expect(useConnection.getState().reachable).toBe(false);
    expect(useConnection.getState().downSince).not.toBeNull();
    markUnreachable(); // already down: nothing changes
    vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: 'unauthorized', message: 'x' }), { status: 401 })));
    expect(await probeServer()).toBe(true); // any answer, even 401, means it is up
    expect(useConnection.getState()).toMatchObject({ reachable: true, downSince: null });
    expect(back).toHaveBeenCalledTimes(1);
    markReached();
    expect(back).toHaveBeenCalledTimes(1);
    off();
  });
});

describe('device picker keys', () => {
  it('moves the active option with arrows, Home and End, within bounds', () => {
    expect(moveActive(-1, 'ArrowDown', 3)).toBe(0);
    expect(moveActive(0, 'ArrowDown', 3)).toBe(1);
    expect(moveActive(2, 'ArrowDown', 3)).toBe(2);
    expect(moveActive(0, 'ArrowUp', 3)).toBe(0);
    expect(moveActive(2, 'ArrowUp', 3)).toBe(1);
    expect(moveActive(1, 'Home', 3)).toBe(0);
    expect(moveActive(0, 'End', 3)).toBe(2);
    expect(moveActive(0, 'a', 3)).toBeNull();
    expect(moveActive(0, 'ArrowDown', 0)).toBeNull();
  });
});
