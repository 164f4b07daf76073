// Users as other views need them (assignee pickers, policy recipients, names in timelines).
// Admins list every user (GET /users); Analysts get the users incidents can be assigned to
// (GET /users/assignable); for DeviceOwners the list stays empty and views fall back to the
// names the incident itself carries (assignee_name, actor_name) and to "you".
import { create } from 'zustand';
import { api } from '@/api/client';
import { errorText, shared } from '@/lib/latest';
import type { User } from '@/api/types';
import { can, useAuth } from './auth';

interface UsersState {
  items: User[];
  loadedAt: number;
  error: string | null;
  /** Fetches the list (every view that shows pickers calls it on mount: users come and go);
   * calls while a fetch is in flight share it. */
  load: () => Promise<void>;
}

const fetchUsers = shared(async () => {
  const role = useAuth.getState().user?.role;
  if (!can(role, 'work_incidents')) return;
  try {
    const r = await (can(role, 'admin') ? api.users() : api.assignableUsers());
    useUsers.setState({ items: r.items, loadedAt: Date.now(), error: null });
  } catch (e) {
    useUsers.setState({ error: errorText(e) });
  }
});

export const useUsers = create<UsersState>(() => ({
  items: [],
  loadedAt: 0,
  error: null,
  load: fetchUsers,
}));

/** A display name for a user id from what is known: the user list, extra pairs (e.g. from an
 * incident's assignee_name / timeline actor_name) and the signed-in user ("you"). */
export function userNamer(users: User[], me: User | null | undefined, extra: [string, string | null | undefined][] = []) {
  const m = new Map<string, string>();
  for (const [id, name] of extra) if (id && name) m.set(id, name);
  for (const u of users) m.set(u.id, u.name || u.email);
  if (me) m.set(me.id, `${me.name || me.email} (you)`);
  m.set('system', 'iotad');
  return (id: string): string | undefined => m.get(id);
}
