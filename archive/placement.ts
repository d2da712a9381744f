// Placement as a pure decision (DESIGN.md §7): which holder keeps shard j of every chunk of an
// object, so that losing any one household — every machine in it — still leaves at least k
// shards of every chunk, across at least two households. With n = k + m shards that is: no
// household holds more than m (then the rest, ≥ k, are elsewhere, and since m < n at least two
// households hold some). Greedy, deterministic: each shard goes to the household holding the
// fewest so far (ties: more free room, then name), and inside it to the machine holding the
// fewest (ties: more room, then id). That fills every household up to min(m, its room), so it
// fails only when Σ min(m, room(H)) < n, which no placement could beat.
import { KithError } from '../core/errors.js';

export interface PlacementParams {
  k: number;
  m: number;
  /** Bytes one shard index costs a holder over the whole object (chunks × stored shard bytes). */
  shardBytes: number;
}

export interface Placement {
  /** holders[j] = id of the holder of shard j. */
  holders: string[];
  /** Shards per household. */
  perHousehold: Record<string, number>;
}

/** The code for a cluster: (k, m) by how many households can hold shards. */
export function defaultCode(households: number): { k: number; m: number } {
  if (households < 2) {
    throw new KithError('ARCHIVE_PLACEMENT_IMPOSSIBLE', `only ${households} household can hold shards; losing it would lose everything`, {
      hint: 'pair with a friend in another household (`kith pair`), then archive again',
    });
  }
  if (households === 2) return { k: 2, m: 2 }; // 2× stored; either household alone has k
  if (households === 3) return { k: 4, m: 2 }; // 1.5×; two shards per household
  return { k: 6, m: 3 }; // 1.5×; at most three per household
}

/** True when the shards (one household name each) survive the loss of any one household. */
export function survivesHouseholdLoss(shardHouseholds: readonly string[], k: number): boolean {
  const counts = countBy(shardHouseholds);
  return counts.size >= 2 && [...counts.values()].every((c) => shardHouseholds.length - c >= k);
}

function countBy(xs: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

interface Slot {
  id: string;
  household: string;
  room: number;
  used: number;
}

function pick<T>(xs: T[], better: (a: T, b: T) => boolean): T | undefined {
  return xs.reduce<T | undefined>((best, x) => (best === undefined || better(x, best) ? x : best), undefined);
}

export function choosePlacement(
  candidates: readonly string[],
  households: ReadonlyMap<string, string>,
  freeQuota: ReadonlyMap<string, number>,
  params: PlacementParams,
): Placement {
  const { k, m, shardBytes } = params;
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 1 || shardBytes < 0) throw new RangeError(`placement needs k ≥ 1, m ≥ 1, shardBytes ≥ 0; got k=${k} m=${m} shardBytes=${shardBytes}`);
  const slots: Slot[] = [...new Set(candidates)].sort().map((id) => {
    const household = households.get(id);
    if (household === undefined) throw new RangeError(`candidate ${id} has no household`);
    const free = freeQuota.get(id) ?? 0;
    return { id, household, room: shardBytes === 0 ? k + m : Math.floor(free / shardBytes), used: 0 };
  });
  const perHousehold = new Map<string, number>();
  const roomOf = (h: string) => slots.filter((s) => s.household === h).reduce((n, s) => n + s.room - s.used, 0);
  const holders: string[] = [];
  for (let j = 0; j < k + m; j++) {
    const open = [...new Set(slots.map((s) => s.household))].filter((h) => (perHousehold.get(h) ?? 0) < m && roomOf(h) > 0);
    const h = pick(open, (a, b) => {
      const ca = perHousehold.get(a) ?? 0, cb = perHousehold.get(b) ?? 0;
      return ca !== cb ? ca < cb : roomOf(a) !== roomOf(b) ? roomOf(a) > roomOf(b) : a < b;
    });
    if (h === undefined) throw impossible(slots, perHousehold, params, j);
    const s = pick(slots.filter((x) => x.household === h && x.room > x.used), (a, b) => (a.used !== b.used ? a.used < b.used : a.room !== b.room ? a.room > b.room : a.id < b.id))!;
    s.used++;
    perHousehold.set(h, (perHousehold.get(h) ?? 0) + 1);
    holders.push(s.id);
  }
  return { holders, perHousehold: Object.fromEntries(perHousehold) };
}

function impossible(slots: Slot[], perHousehold: Map<string, number>, p: PlacementParams, placed: number): KithError {
  const n = p.k + p.m;
  const hs = [...new Set(slots.map((s) => s.household))];
  if (hs.length < 2) {
    return new KithError('ARCHIVE_PLACEMENT_IMPOSSIBLE', `every candidate holder is in household ${JSON.stringify(hs[0] ?? '(none)')}: losing it would lose the object`, {
      hint: 'pair with a friend in another household (`kith pair`), then archive again',
    });
  }
  const short = hs.filter((h) => (perHousehold.get(h) ?? 0) < p.m).map((h) => `${h} (${perHousehold.get(h) ?? 0} of ${p.m}, no room left)`);
  return new KithError(
    'ARCHIVE_PLACEMENT_IMPOSSIBLE',
    `placed ${placed} of ${n} shards (k=${p.k}, at most m=${p.m} per household, ${p.shardBytes} bytes each): households short of room: ${short.join(', ') || 'none'}`,
    { hint: `ask a friend to raise the quota they give you by ${(n - placed) * p.shardBytes} bytes, or pair with another household` },
  );
}
