// Search and sort over a large fleet (100,000 devices) on the main thread without a long frame.
// Sorting compares precomputed keys (lower case, accents dropped, digit runs zero-padded: the
// same order as a numeric, base-sensitivity Intl.Collator, at a fraction of its cost) and skips
// the sort when the rows are already in order. Search runs String.indexOf over one string of
// all rows' name/location/type (and one of their ids, for id prefixes) and maps each hit to its
// row by binary search: a query is a few native scans instead of 400,000 toLowerCase calls.
import type { Device } from '@/api/types';

export type FleetSortKey = 'name' | 'type' | 'location' | 'status' | 'last_seen' | 'created_at';

const SEP = '\u0000';
const FIELD = '\u0001';
// the separators never occur in a record's text or in a query
const CTRL = /[\u0000\u0001]/;
const strip = (s: string) => (CTRL.test(s) ? s.replace(/[\u0000\u0001]/g, ' ') : s);
const ASCII = /^[\u0000-\u007f]*$/;
const DIGIT = /\d/;

/** Sort key of a text: lower case, no accents, digit runs padded ("dev-2" < "dev-10"). */
export function naturalKey(s: string): string {
  const t = (ASCII.test(s) ? s : s.normalize('NFD').replace(/[\u0300-\u036f]/g, '')).toLowerCase();
  return DIGIT.test(t) ? t.replace(/\d+/g, (d) => (d.length >= 16 ? d : d.padStart(16, '0'))) : t;
}

const nameKeys = new WeakMap<Device, string>();
function nameKey(d: Device): string {
  let k = nameKeys.get(d);
  if (k === undefined) nameKeys.set(d, (k = naturalKey(d.name)));
  return k;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The devices in display order: by `key`, ties by name ascending; `items` itself when already in order. */
export function sortDevices(items: Device[], key: FleetSortKey, order: 'asc' | 'desc'): Device[] {
  const dir = order === 'asc' ? 1 : -1;
  const n = items.length;
  const names = items.map(nameKey);
  let primary: (i: number, j: number) => number;
  if (key === 'last_seen' || key === 'created_at') {
    const v = items.map((d) => d[key] ?? -1);
    primary = (i, j) => v[i] - v[j];
  } else if (key === 'name') {
    primary = (i, j) => cmp(names[i], names[j]);
  } else {
    const k = items.map((d) => naturalKey(String(d[key] ?? '')));
    primary = (i, j) => cmp(k[i], k[j]);
  }
  const compare = (i: number, j: number) => {
    const c = primary(i, j);
    return c !== 0 ? c * dir : cmp(names[i], names[j]);
  };
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) if (compare(i - 1, i) > 0) sorted = false;
  if (sorted) return items;
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort(compare);
  return idx.map((i) => items[i]);
}

export interface FleetIndex {
  size: number;
  text: string;
  textStarts: Int32Array;
  ids: string;
  idStarts: Int32Array;
}

const records = new WeakMap<Device, string>();
function record(d: Device): string {
  let r = records.get(d);
  if (r === undefined) {
    r = `${SEP}${strip(d.name)}${FIELD}${strip(d.location ?? '')}${FIELD}${strip(d.type ?? '')}`.toLowerCase();
    records.set(d, r);
  }
  return r;
}

/** Index of `items` (in their order) for matchFleet. */
export function buildFleetIndex(items: Device[]): FleetIndex {
  const n = items.length;
  const textStarts = new Int32Array(n), idStarts = new Int32Array(n);
  const recs: string[] = new Array(n), ids: string[] = new Array(n);
  let t = 0, u = 0;
  for (let i = 0; i < n; i++) {
    const r = record(items[i]);
    recs[i] = r;
    textStarts[i] = t;
    t += r.length;
    const id = SEP + items[i].id.toLowerCase();
    ids[i] = id;
    idStarts[i] = u;
    u += id.length;
  }
  return { size: n, text: recs.join(''), textStarts, ids: ids.join(''), idStarts };
}

/** Row of the record that holds position p (the last start <= p). */
function rowAt(starts: Int32Array, p: number): number {
  let lo = 0, hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function scan(hay: string, starts: Int32Array, needle: string, hit: Uint8Array): void {
  let p = hay.indexOf(needle);
  while (p >= 0) {
    const i = rowAt(starts, p);
    hit[i] = 1;
    p = hay.indexOf(needle, i + 1 < starts.length ? starts[i + 1] : hay.length);
  }
}

/**
 * Rows whose name, location or type contains `q`, or whose id starts with it (case-insensitive),
 * as a 0/1 mask over the indexed rows.
 */
export function matchFleet(ix: FleetIndex, q: string): Uint8Array {
  const hit = new Uint8Array(ix.size);
  const needle = strip(q).toLowerCase();
  if (!needle) return hit.fill(1);
  scan(ix.text, ix.textStarts, needle, hit);
  scan(ix.ids, ix.idStarts, SEP + needle, hit);
  return hit;
}
