// Time range control: preset buttons (a radio group) and "Custom" with absolute from / to
// (datetime-local inputs, applied together).
import { useEffect, useId, useState } from 'react';
import { fromLocalInput, PRESET_LABEL, resolveRange, toLocalInput, type Preset, type TimeRange } from '@/lib/range';
import { cn } from '@/lib/utils';
import { Button } from './ui/button';
import { Input } from './ui/input';
import { Label } from './ui/label';

export function TimeRangePicker({ value, onChange, presets, label = 'Time range', className }: {
  value: TimeRange;
  onChange: (r: TimeRange) => void;
  presets: Preset[];
  label?: string;
  className?: string;
}) {
  const custom = !('preset' in value);
  const uid = useId();
  const [editing, setEditing] = useState(custom);
  const r = resolveRange(value);
  const [from, setFrom] = useState(toLocalInput(r.from));
  const [to, setTo] = useState(toLocalInput(r.to));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!('preset' in value)) {
      setFrom(toLocalInput(value.from));
      setTo(toLocalInput(value.to));
      setEditing(true);
    }
  }, [value]);
  const btn = (on: boolean) =>
    cn('cursor-pointer rounded px-3 py-1 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring', on ? 'bg-primary text-primary-foreground' : 'hover:bg-accent');
  return (
    <div className={cn('flex flex-wrap items-end gap-2', className)}>
      <div role="radiogroup" aria-label={label} className="inline-flex flex-wrap rounded-md border bg-card p-0.5">
        {presets.map((p) => (
          <button
            key={p}
            type="button"
            role="radio"
            aria-checked={'preset' in value && value.preset === p && !editing}
            onClick={() => {
              setEditing(false);
              onChange({ preset: p });
            }}
            className={btn('preset' in value && value.preset === p && !editing)}
          >
            {PRESET_LABEL[p]}
          </button>
        ))}
        <button type="button" role="radio" aria-checked={editing} onClick={() => setEditing(true)} className={btn(editing)}>
          Custom
        </button>
      </div>
      {editing && (
        <form
          className="flex flex-wrap items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            const f = fromLocalInput(from), t = fromLocalInput(to);
            if (f === null || t === null || f >= t) return setError('“From” must be before “to”.');
            setError(null);
            onChange({ from: f, to: t });
          }}
        >
          <div className="space-y-1">
            <Label htmlFor={`${uid}-from`} className="text-xs">From</Label>
            <Input id={`${uid}-from`} type="datetime-local" className="h-8 w-auto" value={from} onChange={(e) => setFrom(e.target.value)} />
          </div>
          <div className="space-y-1">
            <Label htmlFor={`${uid}-to`} className="text-xs">To</Label>
            <Input id={`${uid}-to`} type="datetime-local" className="h-8 w-auto" value={to} onChange={(e) => setTo(e.target.value)} />
          </div>
          <Button type="submit" size="sm" variant="outline">Apply</Button>
          {error && <p role="alert" className="basis-full text-xs text-destructive">{error}</p>}
        </form>
      )}
    </div>
  );
}
