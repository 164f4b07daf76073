// Wires the shared live stream into the stores: device status and last-seen for the fleet,
// anomalies for the anomaly feed, incidents for the board and alerts for the alert history.
// Also exposes the connection state for the header, tells the connection store when the stream
// drops (probe) or opens, and refetches what the stores show when the server is back (events
// were missed meanwhile).
import { create } from 'zustand';
import { liveStream, type StreamState } from '@/api/stream';
import { useDevices } from './devices';
import { useAnomalies } from './anomalies';
import { useIncidents } from './incidents';
import { useAlerts } from './alerts';
import { markReached, onServerBack, probeServer } from './connection';
import { frameBatch } from '@/lib/frameBatch';
import type { StreamMessage } from '@/api/types';
import type { LiveAnomalyEvent } from './anomalies';

/** One animation frame's stream messages, applied in order with one update per store. */
export function applyMessages(ms: readonly StreamMessage[]): void {
  const status: { id: string; status: string; ts: number }[] = [];
  const anomalies: LiveAnomalyEvent[] = [];
  for (const m of ms) {
    if (m.type === 'device_status') status.push({ id: m.device_id, status: m.status, ts: m.ts });
    else if (m.type === 'points' && m.points.length) {
      let ts = 0;
      for (const p of m.points) if (p.ts > ts) ts = p.ts;
      useDevices.getState().touch(m.device_id, ts);
    } else if (m.type === 'anomaly' && m.anomaly) anomalies.push({ anomaly: m.anomaly });
    else if (m.type === 'incident') {
      useIncidents.getState().receive(m.incident);
      anomalies.push({ incident: m.incident });
    } else if (m.type === 'alert') useAlerts.getState().receive(m.alert);
  }
  if (status.length) useDevices.getState().applyStatuses(status);
  if (anomalies.length) useAnomalies.getState().receiveLive(anomalies);
}

export const useStreamState = create<{ state: StreamState }>(() => ({ state: 'closed' }));

let started = false;
const offs: (() => void)[] = [];

export function startLive(): void {
  if (started) return;
  started = true;
  offs.push(
    liveStream.onState((state) => {
      const was = useStreamState.getState().state;
      useStreamState.setState({ state });
      if (state === 'open') markReached();
      else if (state === 'closed' && was === 'open') void probeServer();
    }),
  );
  offs.push(
    onServerBack(() => {
      liveStream.reconnectNow();
      const d = useDevices.getState();
      if (d.loadedAt) void d.load(true);
      void useAnomalies.getState().load();
      if (useIncidents.getState().loadedAt) void useIncidents.getState().load();
      void useAlerts.getState().load();
    }),
  );
  // a burst (first run, a fleet reconnecting) is applied once per frame, not per message
  const batch = frameBatch<StreamMessage>(applyMessages);
  offs.push(liveStream.on((m) => batch.push(m)));
  offs.push(() => batch.flush());
  liveStream.start();
}

export function stopLive(): void {
  if (!started) return;
  started = false;
  while (offs.length) offs.pop()!();
  liveStream.stop();
}
