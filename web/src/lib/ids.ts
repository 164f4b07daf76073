// Short forms of ids for people. UUIDv7 ids start with their creation time, so ids made together
// (a fleet registered in one go) share their first 8 characters: a fixed cut reads
// "01a23ae9…" on every row. The shortest prefix that no other known id shares is used instead.

/** Ids sorted for uniquePrefix (code-unit order, like the comparisons there). */
export function sortIds(ids: Iterable<string>): string[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * The shortest prefix of `id`, at least `min` characters, that tells it apart from every other
 * id in `sorted` (binary search: only the neighbours matter), with "…" when it is cut.
 */
export function uniquePrefix(id: string, sorted: readonly string[], min = 8): string {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  let need = min;
  const next = sorted[lo] === id ? lo + 1 : lo;
  if (lo > 0) need = Math.max(need, commonPrefix(id, sorted[lo - 1]) + 1);
  if (next < sorted.length) need = Math.max(need, commonPrefix(id, sorted[next]) + 1);
  return need >= id.length ? id : `${id.slice(0, need)}…`;
}
