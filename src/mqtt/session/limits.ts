/** A rate: `perSecond` on average, up to `burst` at once. */
export type Rate = { readonly perSecond: number; readonly burst: number };

/**
 * A token bucket kept as one number (GCRA, the generic cell rate algorithm): `tat` is the time
 * (ms) at which the bucket is full again. A packet at `now` is admitted when, with it, the bucket
 * would not overflow: answers the new `tat`, or null when the packet is over the rate. A full
 * bucket admits `burst` packets at once, then one every 1/perSecond s.
 */
export function admit(tat: number | undefined, now: number, rate: Rate): number | null {
  const interval = 1000 / rate.perSecond;
  const next = Math.max(tat ?? 0, now) + interval;
  return next - now > rate.burst * interval ? null : next;
}
