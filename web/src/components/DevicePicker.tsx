// Searchable device picker over the devices API (server-side search, no cap on the fleet size):
// a button that shows the choice and opens a Radix popover with a search box (WAI-ARIA combobox)
// and the matching devices (a listbox). Arrow keys, Home/End and Enter work in the box, Esc
// closes. Replaces native selects that could only hold the first 2,000 devices.
// The search matches the start of names (match=prefix: an index range, ~1 ms at 100,000
// devices, its count capped at 1,000) or a whole id; only when no name starts with the text
// does it look for it anywhere in names, locations and firmware (a scan of every device).
import { useEffect, useId, useRef, useState } from 'react';
import * as Popover from '@radix-ui/react-popover';
import { Check, ChevronsUpDown, Loader2, Search } from 'lucide-react';
import { api } from '@/api/client';
import type { Device } from '@/api/types';
import { errorText, Latest } from '@/lib/latest';
import { cn } from '@/lib/utils';
import { useDeviceLabel, useDevices } from '@/stores/devices';

export const PICKER_PAGE = 50;
const DEBOUNCE_MS = 120;

/** Index of the active option after a key press (n options), or null when the key is not ours. */
export function moveActive(cur: number, key: string, n: number): number | null {
  if (n === 0) return null;
  switch (key) {
    case 'ArrowDown':
      return cur < 0 ? 0 : Math.min(n - 1, cur + 1);
    case 'ArrowUp':
      return cur <= 0 ? 0 : cur - 1;
    case 'Home':
      return 0;
    case 'End':
      return n - 1;
    default:
      return null;
  }
}

interface Option {
  id: string; // '' = the "none" choice
  label: string;
  hint?: string;
}

export interface DevicePickerProps {
  value: string; // device id, '' = none
  onChange: (id: string, device?: Device) => void;
  /** label of the '' choice ("All devices"); without it a device must be picked */
  noneLabel?: string;
  /** for a <Label htmlFor> */
  id?: string;
  /** what is picked, e.g. "Device"; the name read out is "Device: boiler-1" */
  'aria-label': string;
  className?: string;
  disabled?: boolean;
  placeholder?: string;
}

export function DevicePicker({ value, onChange, noneLabel, id, className, disabled, placeholder = 'Choose a device', ...rest }: DevicePickerProps) {
  const label = useDeviceLabel();
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState('');
  const [items, setItems] = useState<Device[]>([]);
  const [total, setTotal] = useState(0);
  const [capped, setCapped] = useState(false);
  const [anywhere, setAnywhere] = useState(false); // the items are a substring search's
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [active, setActive] = useState(0);
  const [picked, setPicked] = useState<Device | null>(null); // name of the choice before the fleet is loaded
  const gen = useRef(new Latest());
  const listId = useId();
  const optId = (i: number) => `${listId}-o${i}`;
  const [retry, setRetry] = useState(0);
  const known = useDevices((st) => (value ? st.index.has(value) : true));

  // a choice made elsewhere (URL, a stored rule) of a device the fleet store does not hold yet
  useEffect(() => {
    if (!value || known || picked?.id === value) return;
    let stale = false;
    api.device(value).then((d) => !stale && setPicked(d), () => {});
    return () => {
      stale = true;
    };
  }, [value, known, picked]);

  useEffect(() => {
    if (!open) return;
    const g = gen.current.next();
    setLoading(true);
    setError(null);
    const t = setTimeout(async () => {
      const text = q.trim();
      const base = { q: text || undefined, sort: 'name', order: 'asc', limit: PICKER_PAGE } as const;
      try {
        let r = await api.devices({ ...base, match: 'prefix' });
        let wide = false;
        if (text && r.items.length === 0 && gen.current.is(g)) {
          r = await api.devices(base);
          wide = true;
        }
        if (!gen.current.is(g)) return;
        setItems(r.items);
        setTotal(r.total ?? r.items.length);
        setCapped(!!r.total_capped);
        setAnywhere(wide);
        setActive(0);
      } catch (e) {
        if (gen.current.is(g)) setError(errorText(e));
      } finally {
        if (gen.current.is(g)) setLoading(false);
      }
    }, q ? DEBOUNCE_MS : 0);
    return () => clearTimeout(t);
  }, [open, q, retry]);

  const options: Option[] = [
    ...(noneLabel && !q.trim() ? [{ id: '', label: noneLabel }] : []),
    ...items.map((d) => ({ id: d.id, label: d.name, hint: [d.type, d.location].filter(Boolean).join(' · ') })),
  ];
  const current = value ? (picked?.id === value ? picked.name : label(value)) : noneLabel ?? placeholder;

  function choose(o: Option) {
    const d = items.find((x) => x.id === o.id);
    if (d) setPicked(d);
    onChange(o.id, d);
    setOpen(false);
  }

  return (
    <Popover.Root
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        if (o) setQ('');
      }}
    >
      <Popover.Trigger asChild>
        <button
          type="button"
          id={id}
          disabled={disabled}
          aria-label={`${rest['aria-label']}: ${current}`}
          aria-haspopup="listbox"
          data-testid="device-picker"
          data-value={value}
          className={cn(
            'flex h-9 w-full min-w-0 cursor-pointer items-center justify-between gap-2 rounded-md border border-input bg-card px-3 text-left text-sm shadow-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring disabled:cursor-not-allowed disabled:opacity-50',
            className,
          )}
        >
          <span className={cn('truncate', !value && !noneLabel && 'text-muted-foreground')}>{current}</span>
          <ChevronsUpDown className="size-4 shrink-0 opacity-60" aria-hidden />
        </button>
      </Popover.Trigger>
      <Popover.Portal>
        <Popover.Content
          aria-label={`Choose: ${rest['aria-label']}`}
          align="start"
          sideOffset={4}
          className="z-50 w-[min(22rem,calc(100vw-2rem))] rounded-md border bg-card p-1 text-card-foreground shadow-lg"
          onOpenAutoFocus={(e) => {
            e.preventDefault();
            (e.currentTarget as HTMLElement).querySelector('input')?.focus();
          }}
        >
          <div className="relative">
            <Search className="pointer-events-none absolute left-2.5 top-2.5 size-4 text-muted-foreground" aria-hidden />
            <input
              role="combobox"
              aria-expanded
              aria-controls={listId}
              aria-autocomplete="list"
              aria-label="Search devices by name or id"
              aria-activedescendant={options.length ? optId(Math.min(active, options.length - 1)) : undefined}
              placeholder="Search devices…"
              value={q}
              onChange={(e) => setQ(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault();
                  const o = options[Math.min(active, options.length - 1)];
                  if (o && !loading) choose(o);
                  return;
                }
                const next = moveActive(active, e.key, options.length);
                if (next === null) return;
                e.preventDefault();
                setActive(next);
                document.getElementById(optId(next))?.scrollIntoView({ block: 'nearest' });
              }}
              className="h-9 w-full rounded-md border border-input bg-card pl-8 pr-8 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
            />
            {loading && <Loader2 className="absolute right-2.5 top-2.5 size-4 animate-spin text-muted-foreground" aria-label="Searching" />}
          </div>
          <ul id={listId} role="listbox" aria-label="Devices" className="mt-1 max-h-72 overflow-y-auto" data-testid="device-options">
            {options.map((o, i) => (
              <li
                key={o.id || '-none-'}
                id={optId(i)}
                role="option"
                aria-selected={o.id === value}
                data-active={i === active || undefined}
                onMouseMove={() => setActive(i)}
                onMouseDown={(e) => e.preventDefault()}
                onClick={() => choose(o)}
                className={cn('flex cursor-pointer items-center gap-2 rounded px-2 py-1.5 text-sm', i === active && 'bg-accent text-accent-foreground')}
              >
                <Check className={cn('size-4 shrink-0', o.id === value ? 'opacity-100' : 'opacity-0')} aria-hidden />
                <span className="min-w-0 flex-1">
                  <span className="block truncate">{o.label}</span>
                  {o.hint && <span className="block truncate text-xs text-muted-foreground">{o.hint}</span>}
                </span>
              </li>
            ))}
          </ul>
          <p className="px-2 py-1.5 text-xs text-muted-foreground" role="status" aria-live="polite">
            {error ? (
              <span className="text-destructive">
                {error}{' '}
                <button type="button" className="cursor-pointer underline" onClick={() => setRetry((n) => n + 1)}>
                  Retry
                </button>
              </span>
            ) : loading && items.length === 0 ? (
              'Searching…'
            ) : items.length === 0 ? (
              q.trim() ? `No device matches “${q.trim()}”.` : 'No devices yet.'
            ) : total > items.length ? (
              `${items.length} of ${total.toLocaleString()}${capped ? '+' : ''} devices; type to narrow the list.`
            ) : (
              `${total.toLocaleString()} device${total === 1 ? '' : 's'}`
            )}
            {anywhere && !error && items.length > 0 && ` No name starts with “${q.trim()}”: these contain it.`}
          </p>
        </Popover.Content>
      </Popover.Portal>
    </Popover.Root>
  );
}
