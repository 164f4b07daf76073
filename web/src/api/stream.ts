// Live stream client for /api/v1/stream (cookie auth). One shared WebSocket; listeners get every
// message. Reconnects with exponential backoff (0.5 s doubling to 15 s, with jitter) and
// re-sends the current subscription after each reconnect.
import type { StreamMessage } from './types';
import { normalizeMessage } from './normalize';

export type StreamState = 'connecting' | 'open' | 'closed';
type Listener = (m: StreamMessage) => void;

export function backoffDelay(attempt: number, random = Math.random): number {
  const base = Math.min(15000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.75 + 0.5 * random()));
}

export class LiveStream {
  private ws: WebSocket | null = null;
  private listeners = new Set<Listener>();
  private stateListeners = new Set<(s: StreamState) => void>();
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private devices: string[] = [];
  state: StreamState = 'closed';

  constructor(private url: () => string = defaultUrl) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ws?.close();
    this.ws = null;
    this.setState('closed');
  }

  /** Reconnects at once instead of waiting out the backoff (e.g. the server is back). */
  reconnectNow(): void {
    if (this.stopped || this.ws || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    this.connect();
  }

  /** [] = every device the user may see. */
  subscribe(devices: string[]): void {
    this.devices = devices;
    this.send({ type: 'subscribe', devices });
  }

  on(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onState(fn: (s: StreamState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  private send(m: unknown): void {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private setState(s: StreamState): void {
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private connect(): void {
    this.setState('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setState('open');
      this.send({ type: 'subscribe', devices: this.devices });
    };
    ws.onmessage = (ev) => {
      let m: StreamMessage | null;
      try {
        m = normalizeMessage(JSON.parse(typeof ev.data === 'string' ? ev.data : ''));
      } catch {
        return;
      }
      if (!m) return;
      for (const fn of this.listeners) fn(m);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      if (!this.stopped) this.scheduleReconnect();
    };
    ws.onerror = () => ws.close();
  }

  private scheduleReconnect(): void {
    this.setState('closed');
    const d = backoffDelay(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.connect();
    }, d);
  }
}

function defaultUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/v1/stream`;
}

export const liveStream = new LiveStream();
