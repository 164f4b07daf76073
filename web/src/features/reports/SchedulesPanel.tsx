// Report schedules: daily (00:00 UTC, the day before) or weekly (Monday 00:00 UTC, the week
// before); by default a first run right away. Their reports appear in the Reports tab.
import { useState } from 'react';
import { CalendarClock, Loader2, Plus, Trash2 } from 'lucide-react';
import { api } from '@/api/client';
import type { ReportKind } from '@/api/types';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input, NativeSelect } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { DevicePicker } from '@/components/DevicePicker';
import { useAsync } from '@/lib/useAsync';
import { errorText } from '@/lib/latest';
import { fmtTime } from '@/lib/utils';
import { useAuth } from '@/stores/auth';
import { KIND_LABEL, kindsFor } from './reports';

export function SchedulesPanel() {
  const role = useAuth((s) => s.user?.role);
  const kinds = kindsFor(role);
  const list = useAsync(() => api.schedules(), []);
  const [f, setF] = useState({ name: '', kind: 'security' as ReportKind, period: 'daily' as 'daily' | 'weekly', device_type: '', device_id: '', run_now: true });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run(fn: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await fn();
      await list.reload();
      return true;
    } catch (e) {
      setError(errorText(e));
      return false;
    } finally {
      setBusy(false);
    }
  }
  const items = list.data?.items ?? [];
  return (
    <div className="space-y-4">
      <Card>
        <CardHeader>
          <CardTitle>New schedule</CardTitle>
          <CardDescription>Daily reports cover the previous day, weekly ones the previous week (UTC)</CardDescription>
        </CardHeader>
        <CardContent>
          <form
            className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3"
            aria-label="New schedule"
            onSubmit={async (e) => {
              e.preventDefault();
              const ok = await run(() =>
                api.createSchedule({ name: f.name.trim(), kind: f.kind, period: f.period, device_type: f.device_type.trim() || undefined, device_id: f.device_id || undefined, run_now: f.run_now }),
              );
              if (ok) setF({ ...f, name: '' });
            }}
          >
            <div className="space-y-1.5"><Label htmlFor="sc-name">Name</Label><Input id="sc-name" required maxLength={200} value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} /></div>
            <div className="space-y-1.5">
              <Label htmlFor="sc-kind">Kind</Label>
              <NativeSelect id="sc-kind" value={f.kind} onChange={(e) => setF({ ...f, kind: e.target.value as ReportKind })}>
                {kinds.map((k) => <option key={k} value={k}>{KIND_LABEL[k]}</option>)}
              </NativeSelect>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="sc-period">Every</Label>
              <NativeSelect id="sc-period" value={f.period} onChange={(e) => setF({ ...f, period: e.target.value as 'daily' | 'weekly' })}>
                <option value="daily">Day</option>
                <option value="weekly">Week</option>
              </NativeSelect>
            </div>
            <div className="space-y-1.5"><Label htmlFor="sc-type">Device type</Label><Input id="sc-type" placeholder="any" value={f.device_type} onChange={(e) => setF({ ...f, device_type: e.target.value })} /></div>
            <div className="space-y-1.5">
              <Label htmlFor="sc-device">Device</Label>
              <DevicePicker id="sc-device" aria-label="Device" noneLabel="All devices" value={f.device_id} onChange={(id) => setF({ ...f, device_id: id })} />
            </div>
            <div className="flex items-end gap-3">
              <label className="flex h-9 items-center gap-2 text-sm">
                <input type="checkbox" className="size-4 accent-[var(--primary)]" checked={f.run_now} onChange={(e) => setF({ ...f, run_now: e.target.checked })} />
                First run now
              </label>
              <Button type="submit" disabled={busy} className="ml-auto">{busy ? <Loader2 className="animate-spin" aria-hidden /> : <Plus aria-hidden />} Add schedule</Button>
            </div>
            {error && <p role="alert" className="text-sm text-destructive sm:col-span-2 lg:col-span-3">{error}</p>}
          </form>
        </CardContent>
      </Card>
      <Card>
        <CardHeader><CardTitle>Schedules</CardTitle></CardHeader>
        <CardContent>
          {list.error && !list.data ? (
            <ErrorState message={list.error} onRetry={list.reload} />
          ) : !list.data ? (
            <Loading />
          ) : items.length === 0 ? (
            <Empty title="No schedules yet" />
          ) : (
            <ul className="divide-y text-sm" aria-label="Schedules">
              {items.map((s) => (
                <li key={s.id} className="flex flex-wrap items-center gap-3 py-3" data-testid="schedule-row">
                  <CalendarClock className="size-4 text-muted-foreground" aria-hidden />
                  <div className="min-w-0 flex-1">
                    <p className="font-medium">{s.name}</p>
                    <p className="text-muted-foreground">
                      {KIND_LABEL[s.kind]} report every {s.period === 'daily' ? 'day' : 'week'} · next {fmtTime(s.next_run)}{s.last_run ? ` · last ${fmtTime(s.last_run)}` : ''}
                    </p>
                  </div>
                  <Button variant="ghost" size="sm" className="text-destructive" aria-label={`Delete schedule ${s.name}`} disabled={busy} onClick={() => confirm(`Delete schedule ${s.name}? Its reports stay.`) && run(() => api.deleteSchedule(s.id))}>
                    <Trash2 aria-hidden />
                  </Button>
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
    </div>
  );
}
