import { describe, expect, it } from 'vitest';
import type { Device } from '@/api/types';
import { buildFleetIndex, matchFleet, naturalKey, sortDevices } from '@/lib/fleetIndex';
import { prepareSearch, selectVisible } from '@/stores/devices';

const dev = (i: number, over: Partial<Device> = {}): Device => ({
  id: `0193a${String(i).padStart(5, '0')}-7000`, owner_id: 'o', name: `fleet-${i}`, type: ['meter', 'camera', 'valve'][i % 3],
  location: `Site ${i % 7}`, firmware: '1', attributes: {}, status: i % 2 ? 'online' : 'offline',
  last_seen: i % 5 ? i * 1000 : null, created_at: i, updated_at: i, ...over,
});

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

describe('fleet sort', () => {
  it('orders as a numeric, case- and accent-blind collator does', () => {
    const names = ['dev-10', 'Dev-2', 'dev-1', 'Éclair 3', 'eclair 20', 'alpha', 'Zulu', 'zulu-0007', 'zulu-7b', 'm2x', 'm10x'];
    const items = names.map((name, i) => dev(i, { name }));
    const got = sortDevices(items, 'name', 'asc').map((d) => d.name);
    expect(got).toEqual([...names].sort(collator.compare));
    expect(naturalKey('Dev-02')).toBe(naturalKey('dev-2'.replace('2', '02')));
  });
  it('sorts by a column with ties by name, descending keeps name ascending in ties', () => {
    const items = Array.from({ length: 30 }, (_, i) => dev(29 - i));
    const byType = sortDevices(items, 'type', 'desc');
    expect(byType[0].type).toBe('valve');
    const valves = byType.filter((d) => d.type === 'valve').map((d) => d.name);
    expect(valves).toEqual([...valves].sort(collator.compare));
    const seen = sortDevices(items, 'last_seen', 'asc');
    expect(seen[0].last_seen).toBeNull();
    expect(seen[seen.length - 1].last_seen).toBe(29000);
  });
  it('returns the same array when already in order (no copy, no sort)', () => {
    const items = Array.from({ length: 100 }, (_, i) => dev(i));
    expect(sortDevices(items, 'name', 'asc')).toBe(items);
    expect(sortDevices(items, 'name', 'desc')).not.toBe(items);
  });
});

describe('fleet search', () => {
  const items = Array.from({ length: 1000 }, (_, i) => dev(i));
  const ix = buildFleetIndex(items);
  const hits = (q: string) => [...matchFleet(ix, q)].flatMap((h, i) => (h ? [items[i].name] : []));
  it('finds a substring of name, location or type, case-blind', () => {
    expect(hits('FLEET-99')).toEqual(['fleet-99', ...Array.from({ length: 10 }, (_, k) => `fleet-${990 + k}`)]);
    expect(hits('site 3')).toHaveLength(items.filter((d) => d.location === 'Site 3').length);
    expect(hits('camer')).toHaveLength(333);
  });
  it('finds an id by its prefix only, and never across fields or rows', () => {
    expect(hits('0193a00042')).toEqual(['fleet-42']);
    expect(hits('00042-7000')).toEqual([]); // inside the id, not its start
    expect(hits('meter\u0001site')).toEqual([]); // the separator is not searchable
    expect(hits('0site')).toEqual([]); // "...-10" + "Site" of the next row
    expect(hits('fleet-10 site')).toEqual([]); // name + location of one row
    expect(hits('3 camera')).toEqual([]);
  });
  it('agrees with a plain filter over the fleet', () => {
    for (const q of ['1', 'fleet-1', 'e 6', 'valve', 'x', '0193a0099']) {
      const want = items
        .filter((d) => [d.name, d.location, d.type].some((f) => (f ?? '').toLowerCase().includes(q)) || d.id.startsWith(q))
        .map((d) => d.name);
      expect(hits(q)).toEqual(want);
    }
  });
  it('selectVisible over 100,000 devices: sorted once per fleet and sort, then filtered by the index', { timeout: 60_000 }, () => {
    const many = Array.from({ length: 100000 }, (_, i) => dev(i));
    const all = selectVisible(many, { q: '', type: '', status: '' }, { key: 'name', order: 'asc' });
    expect(all).toHaveLength(100000);
    expect(all[1].name).toBe('fleet-1');
    expect(selectVisible(many, { q: '', type: '', status: '' }, { key: 'name', order: 'asc' })).toBe(all); // cached
    prepareSearch(many, { key: 'name', order: 'asc' }); // what the page does when idle
    const v = selectVisible(many, { q: 'fleet-7777', type: 'camera', status: '' }, { key: 'name', order: 'asc' });
    // fleet-7777 and fleet-7777x, of type camera (i % 3 === 1)
    expect(v.map((d) => d.name)).toEqual(['fleet-7777', 'fleet-77770', 'fleet-77773', 'fleet-77776', 'fleet-77779']);
  });
});
