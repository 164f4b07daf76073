// Whether the server can be reached, for the "server down / data may be stale" state every page
// shows. Fed by the API client (a request that got no answer, or one that did) and by the live
// stream (a dropped stream is checked with a probe). While unreachable it probes every few
// seconds; when the server answers again, listeners (stores that refetch, the stream) are told.
import { create } from 'zustand';
import { onNetwork } from '@/api/client';

interface ConnectionState {
  reachable: boolean;
  /** when the server stopped answering (ms), null while reachable */
  downSince: number | null;
  /** last answer from the server (ms) */
  lastContact: number;
}

export const useConnection = create<ConnectionState>(() => ({ reachable: true, downSince: null, lastContact: Date.now() }));

export const PROBE_INTERVAL_MS = 3000;
const backListeners = new Set<() => void>();
let probeTimer: ReturnType<typeof setTimeout> | null = null;

/** Runs `fn` each time the server answers again after being unreachable. */
export function onServerBack(fn: () => void): () => void {
  backListeners.add(fn);
  return () => backListeners.delete(fn);
}

export function markReached(now = Date.now()): void {
  const was = useConnection.getState().reachable;
  useConnection.setState({ reachable: true, downSince: null, lastContact: now });
  if (!was) {
    if (probeTimer) clearTimeout(probeTimer);
    probeTimer = null;
    for (const fn of [...backListeners]) fn();
  }
}

export function markUnreachable(now = Date.now()): void {
  if (!useConnection.getState().reachable) return;
  useConnection.setState({ reachable: false, downSince: now });
  scheduleProbe();
}

/** Any HTTP answer (even 401) means the server is up; a failed fetch means it is not. */
export async function probeServer(): Promise<boolean> {
  try {
    await fetch('/api/v1/auth/me', { credentials: 'same-origin', cache: 'no-store' });
    markReached();
    return true;
  } catch {
    markUnreachable();
    return false;
  }
}

function scheduleProbe(): void {
  if (probeTimer) return;
  probeTimer = setTimeout(async () => {
    probeTimer = null;
    if (!(await probeServer())) scheduleProbe();
  }, PROBE_INTERVAL_MS);
}

onNetwork((reached) => (reached ? markReached() : markUnreachable()));
