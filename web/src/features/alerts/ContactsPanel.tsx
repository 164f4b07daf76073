// My contacts (every role, own only): e-mail addresses and phone numbers for alerts, each with
// the lowest severity it should receive and an on/off switch. Saved as a whole (PUT).
import { useState } from 'react';
import { Loader2, Plus, Save, Trash2 } from 'lucide-react';
import { api } from '@/api/client';
import type { Contact, Severity } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input, NativeSelect } from '@/components/ui/input';
import { Switch } from '@/components/ui/switch';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { useAsync } from '@/lib/useAsync';
import { useAuth } from '@/stores/auth';
import { contactError } from './forms';

export function ContactsPanel() {
  const { data, loading, error, reload } = useAsync(() => api.contacts(), []);
  if (error) return <Card><ErrorState message={error} onRetry={reload} /></Card>;
  if (loading && !data) return <Card><Loading /></Card>;
  return <ContactsEditor initial={data!.items} />;
}

function ContactsEditor({ initial }: { initial: Contact[] }) {
  const email = useAuth((s) => s.user?.email);
  const [rows, setRows] = useState<Contact[]>(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [touched, setTouched] = useState(false);
  const errors = rows.map(contactError);
  const change = (i: number, p: Partial<Contact>) => {
    setRows(rows.map((r, k) => (k === i ? { ...r, ...p } : r)));
    setTouched(true);
    setSaved(false);
  };
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (errors.some(Boolean)) {
      setError('Fix the marked addresses first.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api.putContacts(rows.map((c) => ({ ...c, address: c.address.trim() })));
      setRows(r.items);
      setSaved(true);
      setTouched(false);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Card>
      <CardHeader>
        <CardTitle>My contacts</CardTitle>
        <CardDescription>
          Where policies reach you. Without an e-mail contact, e-mail goes to your account address{email ? ` (${email})` : ''}.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="space-y-3" noValidate>
          {rows.length === 0 ? (
            <Empty title="No contacts yet" />
          ) : (
            <ul className="space-y-2" aria-label="Contacts">
              {rows.map((c, i) => (
                <li key={i} className="flex flex-wrap items-start gap-2" data-testid="contact-row">
                  <NativeSelect className="w-28" aria-label={`Contact ${i + 1} kind`} value={c.kind} onChange={(e) => change(i, { kind: e.target.value as Contact['kind'] })}>
                    <option value="email">E-mail</option>
                    <option value="sms">SMS</option>
                  </NativeSelect>
                  <div className="min-w-56 flex-1">
                    <Input
                      aria-label={`Contact ${i + 1} address`}
                      aria-invalid={touched && !!errors[i]}
                      aria-describedby={touched && errors[i] ? `contact-err-${i}` : undefined}
                      placeholder={c.kind === 'sms' ? '+15551234567' : 'me@example.com'}
                      value={c.address}
                      onChange={(e) => change(i, { address: e.target.value })}
                    />
                    {touched && errors[i] && <p id={`contact-err-${i}`} className="mt-1 text-xs text-destructive">{errors[i]}</p>}
                  </div>
                  <NativeSelect className="w-44" aria-label={`Contact ${i + 1} lowest severity`} value={c.min_severity} onChange={(e) => change(i, { min_severity: e.target.value as Severity })}>
                    <option value="info">Everything</option>
                    <option value="warning">Warning and critical</option>
                    <option value="critical">Critical only</option>
                  </NativeSelect>
                  <div className="flex h-9 items-center">
                    <Switch checked={c.enabled} aria-label={`Contact ${i + 1} enabled`} onCheckedChange={(on) => change(i, { enabled: on })} />
                  </div>
                  <Button variant="ghost" size="icon" className="text-destructive" aria-label={`Remove contact ${i + 1}`} onClick={() => { setRows(rows.filter((_, k) => k !== i)); setTouched(true); setSaved(false); }}>
                    <Trash2 aria-hidden />
                  </Button>
                </li>
              ))}
            </ul>
          )}
          {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
          {saved && <p role="status" className="text-sm">Saved.</p>}
          <div className="flex flex-wrap gap-2">
            <Button
              variant="outline"
              disabled={rows.length >= 20}
              onClick={() => { setRows([...rows, { kind: 'email', address: '', min_severity: 'warning', enabled: true }]); setSaved(false); }}
            >
              <Plus aria-hidden /> Add contact
            </Button>
            <Button type="submit" disabled={busy}>{busy ? <Loader2 className="animate-spin" aria-hidden /> : <Save aria-hidden />} Save contacts</Button>
          </div>
        </form>
      </CardContent>
    </Card>
  );
}
