import { describe, expect, it } from 'vitest';
import type { Device } from '@/api/types';
import { sortIds, uniquePrefix } from '@/lib/ids';
import { deviceLabeler } from '@/stores/devices';

// UUIDv7 ids made in the same millisecond share their first 12 hex digits
const fleet = ['01a23ae9-7c10-7aaa-8000-000000000001', '01a23ae9-7c10-7aab-8000-000000000002', '01a23ae9-7c11-7000-8000-000000000003', '01b00000-0000-7000-8000-000000000004'];

describe('uniquePrefix', () => {
  const sorted = sortIds(fleet);
  it('cuts each id where it stops sharing a prefix with its neighbours (at least 8 characters)', () => {
    const short = fleet.map((id) => uniquePrefix(id, sorted));
    expect(short).toEqual(['01a23ae9-7c10-7aaa…', '01a23ae9-7c10-7aab…', '01a23ae9-7c11…', '01b00000…']);
    expect(new Set(short).size).toBe(fleet.length);
    for (const [k, s] of short.entries()) expect(fleet[k].startsWith(s.replace('…', ''))).toBe(true);
  });
  it('tells an unknown id apart from the known ones, and shows short ids whole', () => {
    expect(uniquePrefix('01a23ae9-7c10-7ab0-0000-000000000000', sorted)).toBe('01a23ae9-7c10-7ab…');
    expect(uniquePrefix('abc', [])).toBe('abc');
    expect(uniquePrefix('0123456789', [])).toBe('01234567…');
  });
  it('stays unique over 10,000 ids made in one burst', () => {
    const ids = Array.from({ length: 10000 }, (_, i) => `01a23ae9-7c${String(Math.floor(i / 100)).padStart(2, '0')}-7${(i % 100).toString(16).padStart(3, '0')}-8000-${String(i).padStart(12, '0')}`);
    const s = sortIds(ids);
    expect(new Set(ids.map((id) => uniquePrefix(id, s))).size).toBe(ids.length);
  });
});

describe('deviceLabeler', () => {
  const dev = (id: string, name: string): Device => ({ id, name, owner_id: 'o', type: 't', location: '', firmware: '', attributes: {}, status: 'online', last_seen: null, created_at: 0, updated_at: 0 });
  it('prefers the given name, then the fleet name, then a unique short id', () => {
    const items = [dev(fleet[0], 'boiler-1'), dev(fleet[1], '')];
    const index = new Map(items.map((d, i) => [d.id, i]));
    const label = deviceLabeler(items, index);
    expect(label(fleet[0], 'from the row')).toBe('from the row');
    expect(label(fleet[0])).toBe('boiler-1');
    expect(label(fleet[1])).toBe('01a23ae9-7c10-7aab…');
    expect(label(fleet[2])).toBe('01a23ae9-7c11…');
    expect(label(null)).toBe('no device');
  });
});
