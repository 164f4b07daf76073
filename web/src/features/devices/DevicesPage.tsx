// Device list: in-memory search/filter/sort over the whole fleet with a virtualized body
// (only visible rows are in the DOM), so 10,000 devices scroll and filter smoothly.
import { useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { useVirtualizer } from '@tanstack/react-virtual';
import { ArrowDown, ArrowUp, Plus, RefreshCw, Search } from 'lucide-react';
import { PageHeader } from '@/components/Layout';
import { Button } from '@/components/ui/button';
import { Card } from '@/components/ui/card';
import { Input, NativeSelect } from '@/components/ui/input';
import { StatusBadge } from '@/components/ui/badge';
import { Empty, ErrorState, Loading } from '@/components/ui/states';
import { deviceTypes, selectVisible, useDevices, type SortKey } from '@/stores/devices';
import { fmtAgo } from '@/lib/utils';
import { DeviceFormDialog } from './DeviceForm';

const COLS: { key: SortKey; label: string; className: string }[] = [
  { key: 'name', label: 'Name', className: 'flex-[2] min-w-40' },
  { key: 'type', label: 'Type', className: 'flex-1 min-w-24' },
  { key: 'location', label: 'Location', className: 'flex-1 min-w-28 hidden lg:block' },
  { key: 'status', label: 'Status', className: 'w-28 shrink-0' },
  { key: 'last_seen', label: 'Last seen', className: 'w-32 shrink-0' },
];
const ROW_H = 44;

export default function DevicesPage() {
  const { items, loading, error, filter, sort, load, setFilter, setSort, create, loadedAt } = useDevices();
  const [q, setQ] = useState(filter.q);
  const dq = useDeferredValue(q);
  const [open, setOpen] = useState(false);
  const navigate = useNavigate();
  const scroller = useRef<HTMLDivElement>(null);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    void load();
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, [load]);
  useEffect(() => setFilter({ q: dq }), [dq, setFilter]);

  const visible = useMemo(() => selectVisible(items, filter, sort), [items, filter, sort]);
  const types = useMemo(() => deviceTypes(items), [items]);
  const rv = useVirtualizer({ count: visible.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_H, overscan: 10 });

  return (
    <div className="flex h-full flex-col">
      <PageHeader title="Devices" description={loadedAt ? `${visible.length.toLocaleString()} of ${items.length.toLocaleString()} devices` : undefined}>
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
      <Card className="flex min-h-[320px] flex-1 flex-col overflow-hidden">
        <div role="table" aria-label="Devices" aria-rowcount={visible.length + 1} className="flex min-h-0 flex-1 flex-col">
          <div role="rowgroup" className="border-b bg-muted/50">
            <div role="row" className="flex items-center gap-3 px-4 py-2 text-xs font-medium text-muted-foreground">
              {COLS.map((c) => (
                <div key={c.key} role="columnheader" aria-sort={sort.key === c.key ? (sort.order === 'asc' ? 'ascending' : 'descending') : 'none'} className={c.className}>
                  <button className="inline-flex cursor-pointer items-center gap-1 rounded hover:text-foreground focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" onClick={() => setSort(c.key)}>
                    {c.label}
                    {sort.key === c.key && (sort.order === 'asc' ? <ArrowUp className="size-3" aria-hidden /> : <ArrowDown className="size-3" aria-hidden />)}
                  </button>
                </div>
              ))}
            </div>
          </div>
          {error ? (
            <ErrorState message={error} onRetry={() => load(true)} />
          ) : !loadedAt && loading ? (
            <Loading label="Loading devices…" />
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
                      data-testid="device-row"
                      onClick={() => navigate(`/devices/${d.id}`)}
                      className="absolute left-0 flex w-full cursor-pointer items-center gap-3 border-b px-4 text-sm hover:bg-accent/60"
                      style={{ height: ROW_H, transform: `translateY(${vi.start}px)` }}
                    >
                      <div role="cell" className={`${COLS[0].className} truncate`}>
                        <Link to={`/devices/${d.id}`} className="font-medium hover:underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring" onClick={(e) => e.stopPropagation()}>
                          {d.name}
                        </Link>
                      </div>
                      <div role="cell" className={`${COLS[1].className} truncate text-muted-foreground`}>{d.type || '—'}</div>
                      <div role="cell" className={`${COLS[2].className} truncate text-muted-foreground`}>{d.location || '—'}</div>
                      <div role="cell" className={COLS[3].className}><StatusBadge status={d.status} /></div>
                      <div role="cell" className={`${COLS[4].className} text-muted-foreground`}>{fmtAgo(d.last_seen, now)}</div>
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
        onSubmit={async (input) => {
          const d = await create(input);
          navigate(`/devices/${d.id}?tab=keys`);
        }}
      />
    </div>
  );
}
