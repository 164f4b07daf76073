// Device list: in-memory search/filter/sort over the whole fleet with a virtualized body
// (only visible rows are in the DOM), so 10,000 devices scroll and filter smoothly. Admins see
// each device's owner, and tick devices to give them to a user at once (bulk assign). On phones
// the rows become cards that show the whole name.
import { useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { useVirtualizer } from '@tanstack/react-virtual';
import { ArrowDown, ArrowUp, Loader2, Plus, RefreshCw, Search, UserRoundCog } from 'lucide-react';
import type { User } from '@/api/types';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Card } from '@/components/ui/card';
import { Input, NativeSelect } from '@/components/ui/input';
import { StatusBadge } from '@/components/ui/badge';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Label } from '@/components/ui/label';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { deviceTypes, prepareSearch, selectVisible, useDevices, type SortKey } from '@/stores/devices';
import { can, useAuth } from '@/stores/auth';
import { useUsers } from '@/stores/users';
import { errorText } from '@/lib/latest';
import { useMediaQuery } from '@/lib/useMediaQuery';
import { cn, fmtAgo } from '@/lib/utils';
import { DeviceFormDialog, ownerCandidates, ownerLabel } from './DeviceForm';

const COLS: { key: SortKey; label: string; className: string }[] = [
  { key: 'name', label: 'Name', className: 'flex-[2] min-w-40' },
  { key: 'type', label: 'Type', className: 'flex-1 min-w-24' },
  { key: 'location', label: 'Location', className: 'flex-1 min-w-28 hidden lg:block' },
  { key: 'status', label: 'Status', className: 'w-28 shrink-0' },
  { key: 'last_seen', label: 'Last seen', className: 'w-32 shrink-0' },
];
const ROW_H = 44;
const CARD_H = 76;

export default function DevicesPage() {
  const { items, loading, error, filter, sort, load, setFilter, setSort, create, loadedAt, partial, total } = useDevices();
  const isAdmin = can(useAuth((s) => s.user?.role), 'admin');
  const users = useUsers();
  const loadUsers = users.load;
  const phone = useMediaQuery('(max-width: 767px)');
  const [q, setQ] = useState(filter.q);
  const dq = useDeferredValue(q);
  const [open, setOpen] = useState(false);
  const [picked, setPicked] = useState<Set<string>>(() => new Set());
  const [assigning, setAssigning] = useState(false);
  const navigate = useNavigate();
  const scroller = useRef<HTMLDivElement>(null);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    void load();
    if (isAdmin) void loadUsers();
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, [load, loadUsers, isAdmin]);
  useEffect(() => setFilter({ q: dq }), [dq, setFilter]);

  const visible = useMemo(() => selectVisible(items, filter, sort), [items, filter, sort]);
  // index the fleet for search while the page is idle, not on the first key press
  useEffect(() => {
    if (partial || items.length < 1000) return;
    const w = window as Window & { requestIdleCallback?: (cb: () => void) => number; cancelIdleCallback?: (h: number) => void };
    if (!w.requestIdleCallback) return;
    const h = w.requestIdleCallback(() => prepareSearch(items, sort));
    return () => w.cancelIdleCallback?.(h);
  }, [items, sort, partial]);
  const types = useMemo(() => deviceTypes(items), [items]);
  const ownerName = useMemo(() => {
    const m = new Map(users.items.map((u) => [u.id, u.name || u.email]));
    return (id: string) => m.get(id) ?? '—';
  }, [users.items]);
  const rowH = phone ? CARD_H : ROW_H;
  const rv = useVirtualizer({ count: visible.length, getScrollElement: () => scroller.current, estimateSize: () => rowH, overscan: 10 });
  useEffect(() => rv.measure(), [rowH, rv]);
  const toggle = (id: string) =>
    setPicked((p) => {
      const n = new Set(p);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const allShownPicked = visible.length > 0 && visible.every((d) => picked.has(d.id));

  return (
    <div className="flex h-full flex-col">
      <PageHeader title="Devices" description={loadedAt ? (partial ? `Loading… first ${items.length.toLocaleString()} of ${total.toLocaleString()} devices` : `${visible.length.toLocaleString()} of ${items.length.toLocaleString()} devices`) : undefined}>
        <Button variant="outline" onClick={() => load(true)} aria-label="Reload devices">
          <RefreshCw className={loading ? 'animate-spin' : ''} />
        </Button>
        <Button onClick={() => setOpen(true)} data-testid="register-device">
          <Plus /> Register device
        </Button>
      </PageHeader>
      <div className="mb-3 flex flex-wrap gap-2" role="search">
        <div className="relative min-w-56 flex-1">
          <Search className="pointer-events-none absolute left-2.5 top-2.5 size-4 text-muted-foreground" aria-hidden />
          <Input className="pl-8" placeholder="Search name, id, type, location" aria-label="Search devices" value={q} onChange={(e) => setQ(e.target.value)} />
        </div>
        <NativeSelect className="w-40" aria-label="Filter by type" value={filter.type} onChange={(e) => setFilter({ type: e.target.value })}>
          <option value="">All types</option>
          {types.map((t) => <option key={t} value={t}>{t}</option>)}
        </NativeSelect>
        <NativeSelect className="w-36" aria-label="Filter by status" value={filter.status} onChange={(e) => setFilter({ status: e.target.value as '' | 'online' | 'offline' })}>
          <option value="">Any status</option>
          <option value="online">Online</option>
          <option value="offline">Offline</option>
        </NativeSelect>
      </div>
      {isAdmin && picked.size > 0 && (
        <div className="mb-3 flex flex-wrap items-center gap-2 text-sm" data-testid="device-selection">
          <span role="status">{picked.size.toLocaleString()} selected</span>
          <Button size="sm" onClick={() => setAssigning(true)}><UserRoundCog aria-hidden /> Assign owner…</Button>
          <Button size="sm" variant="ghost" onClick={() => setPicked(new Set())}>Clear selection</Button>
        </div>
      )}
      <Card className="flex min-h-[320px] flex-1 flex-col overflow-hidden">
        <div role="table" aria-label="Devices" aria-rowcount={visible.length + 1} className="flex min-h-0 flex-1 flex-col" data-testid="device-table" data-query={filter.q} data-count={visible.length}>
          <div role="rowgroup" className="border-b bg-muted/50">
            <div role="row" className="flex items-center gap-3 px-4 py-2 text-xs font-medium text-muted-foreground">
              {isAdmin && (
                <div role="columnheader" className="w-5 shrink-0">
                  <input
                    type="checkbox"
                    className="size-4 accent-[var(--primary)]"
                    aria-label={`Select all ${visible.length.toLocaleString()} shown devices`}
                    checked={allShownPicked}
                    onChange={() => setPicked(allShownPicked ? new Set() : new Set(visible.map((d) => d.id)))}
                  />
                </div>
              )}
              {(phone ? COLS.slice(0, 1) : COLS).map((c) => (
                <div key={c.key} role="columnheader" aria-sort={sort.key === c.key ? (sort.order === 'asc' ? 'ascending' : 'descending') : 'none'} className={c.className}>
                  <button className="inline-flex cursor-pointer items-center gap-1 rounded hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" onClick={() => setSort(c.key)}>
                    {c.label}
                    {sort.key === c.key && (sort.order === 'asc' ? <ArrowUp className="size-3" aria-hidden /> : <ArrowDown className="size-3" aria-hidden />)}
                  </button>
                </div>
              ))}
              {isAdmin && !phone && <div role="columnheader" className="hidden w-36 shrink-0 xl:block">Owner</div>}
            </div>
          </div>
          {error ? (
            <ErrorState message={error} onRetry={() => load(true)} />
          ) : !loadedAt && loading ? (
            <Loading label="Loading devices…" />
          ) : visible.length === 0 && partial ? (
            // only the first page is searched yet: "no match" would be a guess
            <Loading label={`Searching as the fleet loads (first ${items.length.toLocaleString()} of ${total.toLocaleString()} devices)…`} />
          ) : visible.length === 0 ? (
            <Empty title={items.length ? 'No device matches the filters' : 'No devices yet'}>
              {items.length ? 'Change the search or filters.' : 'Register your first device to start sending telemetry.'}
            </Empty>
          ) : (
            <div ref={scroller} role="rowgroup" className="min-h-0 flex-1 overflow-auto" data-testid="device-rows">
              <div style={{ height: rv.getTotalSize(), position: 'relative' }}>
                {rv.getVirtualItems().map((vi) => {
                  const d = visible[vi.index];
                  return (
                    <div
                      key={d.id}
                      role="row"
                      aria-rowindex={vi.index + 2}
                      aria-selected={isAdmin ? picked.has(d.id) : undefined}
                      data-testid="device-row"
                      onClick={() => navigate(`/devices/${d.id}`)}
                      className={cn('absolute left-0 flex w-full cursor-pointer items-center gap-3 border-b px-4 text-sm hover:bg-accent/60', picked.has(d.id) && 'bg-accent/40')}
                      style={{ height: rowH, transform: `translateY(${vi.start}px)` }}
                    >
                      {isAdmin && (
                        <div role="cell" className="w-5 shrink-0" onClick={(e) => e.stopPropagation()}>
                          <input type="checkbox" className="size-4 accent-[var(--primary)]" aria-label={`Select ${d.name}`} checked={picked.has(d.id)} onChange={() => toggle(d.id)} />
                        </div>
                      )}
                      {phone ? (
                        <div role="cell" className="flex min-w-0 flex-1 flex-col gap-0.5">
                          <Link to={`/devices/${d.id}`} className="line-clamp-2 font-medium break-words hover:underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" onClick={(e) => e.stopPropagation()}>
                            {d.name}
                          </Link>
                          <span className="flex items-center gap-2 text-xs text-muted-foreground">
                            <StatusBadge status={d.status} />
                            <span className="truncate">{[d.type, fmtAgo(d.last_seen, now)].filter(Boolean).join(' · ')}</span>
                          </span>
                        </div>
                      ) : (
                        <>
                          <div role="cell" className={`${COLS[0].className} truncate`}>
                            <Link to={`/devices/${d.id}`} className="font-medium hover:underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" onClick={(e) => e.stopPropagation()} title={d.name}>
                              {d.name}
                            </Link>
                          </div>
                          <div role="cell" className={`${COLS[1].className} truncate text-muted-foreground`}>{d.type || '—'}</div>
                          <div role="cell" className={`${COLS[2].className} truncate text-muted-foreground`}>{d.location || '—'}</div>
                          <div role="cell" className={COLS[3].className}><StatusBadge status={d.status} /></div>
                          <div role="cell" className={`${COLS[4].className} text-muted-foreground`}>{fmtAgo(d.last_seen, now)}</div>
                          {isAdmin && <div role="cell" className="hidden w-36 shrink-0 truncate text-muted-foreground xl:block" data-testid="device-owner-cell">{ownerName(d.owner_id)}</div>}
                        </>
                      )}
                    </div>
                  );
                })}
              </div>
            </div>
          )}
        </div>
      </Card>
      <DeviceFormDialog
        open={open}
        onOpenChange={setOpen}
        owners={isAdmin ? ownerCandidates(users.items) : undefined}
        onSubmit={async (input) => {
          const d = await create(input);
          navigate(`/devices/${d.id}?tab=keys`);
        }}
      />
      {isAdmin && (
        <AssignOwnerDialog
          open={assigning}
          onOpenChange={setAssigning}
          ids={[...picked]}
          owners={ownerCandidates(users.items)}
          onDone={() => setPicked(new Set())}
        />
      )}
    </div>
  );
}

/** Gives the picked devices to one user (PATCH owner_id each, four at a time, with progress). */
function AssignOwnerDialog({ open, onOpenChange, ids, owners, onDone }: { open: boolean; onOpenChange: (o: boolean) => void; ids: string[]; owners: User[]; onDone: () => void }) {
  const update = useDevices((s) => s.update);
  const [owner, setOwner] = useState('');
  const [done, setDone] = useState(0);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<string[]>([]);
  useEffect(() => {
    if (open) {
      setOwner(owners.find((u) => u.role === 'device_owner')?.id ?? owners[0]?.id ?? '');
      setDone(0);
      setErrors([]);
    }
  }, [open, owners]);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    const failed: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(4, ids.length) }, async () => {
        while (next < ids.length) {
          const id = ids[next++];
          try {
            await update(id, { owner_id: owner });
          } catch (err) {
            failed.push(`${id}: ${errorText(err)}`);
          }
          setDone((n) => n + 1);
        }
      }),
    );
    setBusy(false);
    setErrors(failed);
    if (failed.length === 0) {
      onOpenChange(false);
      onDone();
    }
  }
  return (
    <Dialog open={open} onOpenChange={(o) => !busy && onOpenChange(o)}>
      <DialogContent>
        <form onSubmit={submit} className="space-y-4">
          <DialogHeader>
            <DialogTitle>Assign an owner</DialogTitle>
            <DialogDescription>
              Give {ids.length.toLocaleString()} device{ids.length === 1 ? '' : 's'} to one user. A device owner sees and manages only their own devices.
            </DialogDescription>
          </DialogHeader>
          <div className="space-y-1.5">
            <Label htmlFor="bulk-owner">Owner</Label>
            <NativeSelect id="bulk-owner" value={owner} onChange={(e) => setOwner(e.target.value)} disabled={busy}>
              {owners.map((u) => <option key={u.id} value={u.id}>{ownerLabel(u)}</option>)}
            </NativeSelect>
          </div>
          {busy && (
            <div className="space-y-1" role="status">
              <div className="h-1.5 overflow-hidden rounded bg-muted"><div className="h-full bg-primary" style={{ width: `${(done / Math.max(1, ids.length)) * 100}%` }} /></div>
              <p className="text-xs text-muted-foreground">{done} of {ids.length}</p>
            </div>
          )}
          {errors.length > 0 && (
            <div role="alert" className="max-h-32 overflow-auto rounded-md bg-destructive/15 p-2 text-sm text-destructive">
              {errors.length} could not be assigned:
              <ul className="list-disc pl-5">{errors.slice(0, 10).map((e) => <li key={e} className="break-all">{e}</li>)}</ul>
            </div>
          )}
          <DialogFooter>
            <Button variant="outline" disabled={busy} onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={busy || !owner}>{busy && <Loader2 className="animate-spin" aria-hidden />}Assign {ids.length.toLocaleString()}</Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
