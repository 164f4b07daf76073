// Session state. The session itself is the HttpOnly cookie; this store only knows who is
// logged in. `expired` is set when any API call answers 401, which sends the user to login.
import { create } from 'zustand';
import { api, ApiError, onUnauthorized } from '@/api/client';
import type { Role, User } from '@/api/types';

type Status = 'unknown' | 'authenticated' | 'anonymous';

interface AuthState {
  user: User | null;
  status: Status;
  expired: boolean;
  check: () => Promise<void>;
  login: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
  expire: () => void;
}

export const useAuth = create<AuthState>((set, get) => ({
  user: null,
  status: 'unknown',
  expired: false,
  async check() {
    try {
      const user = await api.me();
      set({ user, status: 'authenticated', expired: false });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) set({ user: null, status: 'anonymous' });
      else set({ user: null, status: 'anonymous' });
    }
  },
  async login(email, password) {
    const r = await api.login(email, password);
    set({ user: r.user, status: 'authenticated', expired: false });
  },
  async logout() {
    try {
      await api.logout();
    } catch {
      /* the session may already be gone */
    }
    set({ user: null, status: 'anonymous', expired: false });
  },
  expire() {
    if (get().status === 'authenticated') set({ user: null, status: 'anonymous', expired: true });
  },
}));

onUnauthorized(() => useAuth.getState().expire());

/** What the UI offers per role; the server enforces the same rules regardless. */
export function can(
  role: Role | undefined,
  what: 'admin' | 'work_anomalies' | 'work_incidents' | 'alert_admin' | 'read_all' | 'metrics' | 'audit',
): boolean {
  if (!role) return false;
  switch (what) {
    case 'admin':
    case 'audit':
    case 'alert_admin': // channels, policies, alert settings, retrying dead letters
      return role === 'admin';
    case 'work_anomalies':
    case 'work_incidents': // create, assign, move, comment; acknowledge alerts
    case 'read_all':
    case 'metrics':
      return role === 'admin' || role === 'analyst';
  }
}
