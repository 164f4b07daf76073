// Admin: users and roles (create, change role, disable, delete), the self-signup setting, and
// the audit log with hash-chain verification. Only reachable for the admin role.
import { useState } from 'react';
import { Loader2, Plus, ShieldCheck, ShieldX, Trash2 } from 'lucide-react';
import { api } from '@/api/client';
import type { Role, Settings, User } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Badge } from '@/components/ui/badge';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Input, NativeSelect } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Switch } from '@/components/ui/switch';
import { Tabs, TabsContent, TabsList, TabsTrigger } from '@/components/ui/tabs';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAsync } from '@/lib/useAsync';
import { useAuth } from '@/stores/auth';
import { fmtTime } from '@/lib/utils';

const ROLES: { value: Role; label: string }[] = [
  { value: 'admin', label: 'Admin' },
  { value: 'analyst', label: 'Analyst' },
  { value: 'device_owner', label: 'Device owner' },
];

export default function AdminPage() {
  return (
    <div>
      <PageHeader title="Admin" description="Users, sign-up and the audit log" />
      <Tabs defaultValue="users">
        <TabsList>
          <TabsTrigger value="users">Users</TabsTrigger>
          <TabsTrigger value="settings">Settings</TabsTrigger>
          <TabsTrigger value="audit">Audit log</TabsTrigger>
        </TabsList>
        <TabsContent value="users"><UsersPanel /></TabsContent>
        <TabsContent value="settings"><SettingsPanel /></TabsContent>
        <TabsContent value="audit"><AuditPanel /></TabsContent>
      </Tabs>
    </div>
  );
}

function UsersPanel() {
  const me = useAuth((s) => s.user);
  const { data, loading, error, reload } = useAsync(() => api.users(), []);
  const [open, setOpen] = useState(false);
  const [opError, setOpError] = useState<string | null>(null);
  async function run(fn: () => Promise<unknown>) {
    setOpError(null);
    try {
      await fn();
      await reload();
    } catch (e) {
      setOpError((e as Error).message);
    }
  }
  const users: User[] = data?.items ?? [];
  return (
    <Card>
      <CardHeader className="flex-row items-center justify-between">
        <div>
          <CardTitle>Users</CardTitle>
          <CardDescription>Device owners see only their own devices; analysts see all and work anomalies.</CardDescription>
        </div>
        <Button onClick={() => setOpen(true)}><Plus aria-hidden /> Add user</Button>
      </CardHeader>
      <CardContent>
        {opError && <p role="alert" className="mb-2 text-sm text-destructive">{opError}</p>}
        {error ? (
          <ErrorState message={error} onRetry={reload} />
        ) : loading && !data ? (
          <Loading />
        ) : users.length === 0 ? (
          <Empty title="No users" />
        ) : (
          <div className="relative overflow-x-auto">
            <table role="table" className="card-table w-full text-sm">
              <thead role="rowgroup" className="text-left text-xs text-muted-foreground">
                <tr role="row">
                  <th role="columnheader" className="py-2 font-medium">Name</th>
                  <th role="columnheader" className="py-2 font-medium">E-mail</th>
                  <th role="columnheader" className="py-2 font-medium">Role</th>
                  <th role="columnheader" className="py-2 font-medium">Enabled</th>
                  <th role="columnheader" className="py-2"><span className="sr-only">Actions</span></th>
                </tr>
              </thead>
              <tbody role="rowgroup">
                {users.map((u) => {
                  const self = u.id === me?.id;
                  return (
                    <tr role="row" key={u.id} className="border-t">
                      <td role="cell" data-label="Name" className="py-2">{u.name || '—'} {self && <Badge variant="secondary">you</Badge>}</td>
                      <td role="cell" data-label="E-mail" className="py-2">{u.email}</td>
                      <td role="cell" data-label="Role" className="py-2">
                        <NativeSelect className="h-8 w-40" aria-label={`Role of ${u.email}`} value={u.role} disabled={self} onChange={(e) => run(() => api.updateUser(u.id, { role: e.target.value as Role }))}>
                          {ROLES.map((r) => <option key={r.value} value={r.value}>{r.label}</option>)}
                        </NativeSelect>
                      </td>
                      <td role="cell" data-label="Enabled" className="py-2">
                        <Switch checked={!u.disabled} disabled={self} aria-label={`${u.email} enabled`} onCheckedChange={(on) => run(() => api.updateUser(u.id, { disabled: !on }))} />
                      </td>
                      <td role="cell" data-label="" className="py-2 text-right">
                        {!self && (
                          <Button variant="ghost" size="sm" className="text-destructive" aria-label={`Delete ${u.email}`} onClick={() => confirm(`Delete ${u.email}?`) && run(() => api.deleteUser(u.id))}>
                            <Trash2 aria-hidden />
                          </Button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </CardContent>
      <NewUserDialog open={open} onOpenChange={setOpen} onCreated={reload} />
    </Card>
  );
}

function NewUserDialog({ open, onOpenChange, onCreated }: { open: boolean; onOpenChange: (o: boolean) => void; onCreated: () => void }) {
  const [f, setF] = useState({ name: '', email: '', password: '', role: 'device_owner' as Role });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.createUser(f);
      setF({ name: '', email: '', password: '', role: 'device_owner' });
      onOpenChange(false);
      onCreated();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form onSubmit={submit} className="space-y-4">
          <DialogHeader>
            <DialogTitle>Add user</DialogTitle>
            <DialogDescription>The user signs in with this e-mail and password.</DialogDescription>
          </DialogHeader>
          {error && <p role="alert" className="rounded-md bg-destructive/15 p-2 text-sm text-destructive">{error}</p>}
          <div className="space-y-1.5"><Label htmlFor="u-name">Name</Label><Input id="u-name" value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} /></div>
          <div className="space-y-1.5"><Label htmlFor="u-email">E-mail</Label><Input id="u-email" type="email" required value={f.email} onChange={(e) => setF({ ...f, email: e.target.value })} /></div>
          <div className="space-y-1.5"><Label htmlFor="u-password">Password</Label><Input id="u-password" type="password" required minLength={8} autoComplete="new-password" value={f.password} onChange={(e) => setF({ ...f, password: e.target.value })} /></div>
          <div className="space-y-1.5">
            <Label htmlFor="u-role">Role</Label>
            <NativeSelect id="u-role" value={f.role} onChange={(e) => setF({ ...f, role: e.target.value as Role })}>
              {ROLES.map((r) => <option key={r.value} value={r.value}>{r.label}</option>)}
            </NativeSelect>
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={busy}>{busy && <Loader2 className="animate-spin" aria-hidden />}Create</Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function SettingsPanel() {
  const { data, loading, error, reload, setData } = useAsync(() => api.settings(), []);
  const [opError, setOpError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  if (error) return <ErrorState message={error} onRetry={reload} />;
  if (loading && !data) return <Loading />;
  return (
    <Card>
      <CardHeader>
        <CardTitle>Sign-up</CardTitle>
        <CardDescription>Who may create an account (new accounts are device owners).</CardDescription>
      </CardHeader>
      <CardContent className="space-y-2">
        <Label htmlFor="signup">Self-registration</Label>
        <NativeSelect
          id="signup"
          className="w-64"
          value={data?.signup ?? 'off'}
          onChange={async (e) => {
            setOpError(null);
            setSaved(false);
            try {
              const s = await api.updateSettings({ signup: e.target.value as Settings['signup'] });
              setData(s && s.signup ? s : { ...(data as Settings), signup: e.target.value as Settings['signup'] });
              setSaved(true);
            } catch (err) {
              setOpError((err as Error).message);
            }
          }}
        >
          <option value="open">Open: anyone can sign up</option>
          <option value="invite">Invite only</option>
          <option value="off">Off</option>
        </NativeSelect>
        {saved && <p role="status" className="text-sm text-success">Saved.</p>}
        {opError && <p role="alert" className="text-sm text-destructive">{opError}</p>}
      </CardContent>
    </Card>
  );
}

function AuditPanel() {
  const { data, loading, error, reload } = useAsync(() => api.audit({ limit: 200 }), []);
  const users = useAsync(() => api.users().catch(() => ({ items: [] as User[] })), []);
  const who = (id: string | null) => (id && users.data?.items.find((u) => u.id === id)?.email) || id || '—';
  const [verify, setVerify] = useState<{ busy: boolean; result?: Awaited<ReturnType<typeof api.auditVerify>>; error?: string }>({ busy: false });
  return (
    <Card>
      <CardHeader className="flex-row items-center justify-between">
        <div>
          <CardTitle>Audit log</CardTitle>
          <CardDescription>Every change, hash-chained: editing a row breaks the chain.</CardDescription>
        </div>
        <Button
          variant="outline"
          disabled={verify.busy}
          onClick={async () => {
            setVerify({ busy: true });
            try {
              setVerify({ busy: false, result: await api.auditVerify() });
            } catch (e) {
              setVerify({ busy: false, error: (e as Error).message });
            }
          }}
        >
          {verify.busy ? <Loader2 className="animate-spin" aria-hidden /> : <ShieldCheck aria-hidden />} Verify chain
        </Button>
      </CardHeader>
      <CardContent>
        {verify.result && (
          <p role="status" data-testid="audit-verify" className={`mb-3 flex items-center gap-2 rounded-md p-2 text-sm ${verify.result.intact ? 'bg-success/15 text-success' : 'bg-destructive/15 text-destructive'}`}>
            {verify.result.intact ? <ShieldCheck className="size-4" aria-hidden /> : <ShieldX className="size-4" aria-hidden />}
            {verify.result.intact
              ? `Intact: ${verify.result.rows} rows verified.`
              : `Broken at row ${verify.result.first_bad_seq ?? '?'}: ${verify.result.reason ?? 'hash mismatch'}`}
          </p>
        )}
        {verify.error && <p role="alert" className="mb-3 text-sm text-destructive">{verify.error}</p>}
        {error ? (
          <ErrorState message={error} onRetry={reload} />
        ) : loading && !data ? (
          <Loading />
        ) : !data?.items.length ? (
          <Empty title="The audit log is empty" />
        ) : (
          <div className="relative max-h-[60vh] overflow-auto focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" tabIndex={0} role="region" aria-label="Audit log entries">
            <table role="table" className="card-table w-full text-sm">
              <thead role="rowgroup" className="sticky top-0 bg-card text-left text-xs text-muted-foreground">
                <tr role="row">
                  <th role="columnheader" className="py-2 font-medium">#</th>
                  <th role="columnheader" className="py-2 font-medium">Time</th>
                  <th role="columnheader" className="py-2 font-medium">Actor</th>
                  <th role="columnheader" className="py-2 font-medium">Action</th>
                  <th role="columnheader" className="py-2 font-medium">Target</th>
                  <th role="columnheader" className="py-2 font-medium">Peer</th>
                </tr>
              </thead>
              <tbody role="rowgroup">
                {data.items.map((r) => (
                  <tr role="row" key={r.seq} className="border-t">
                    <td role="cell" data-label="#" className="py-1.5 tabular-nums text-muted-foreground">{r.seq}</td>
                    <td role="cell" data-label="Time" className="py-1.5 whitespace-nowrap">{fmtTime(r.ts)}</td>
                    <td role="cell" data-label="Actor" className="max-w-56 truncate py-1.5 pr-3" title={r.actor ?? ''}>{who(r.actor)}</td>
                    <td role="cell" data-label="Action" className="py-1.5"><Badge variant="outline">{r.action}</Badge></td>
                    <td role="cell" data-label="Target" className="max-w-48 truncate py-1.5 pr-3 font-mono text-xs" title={r.target ?? ''}>{r.target ?? '—'}</td>
                    <td role="cell" data-label="Peer" className="py-1.5 font-mono text-xs">{r.peer ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </CardContent>
    </Card>
  );
}
