import type { SendResult } from "./providers/types";

/**
 * A circuit breaker per app and provider (pure core; `breakers` below keeps one per isolate).
 * A provider that times out or answers 5xx for one app makes that app's next batches wait
 * (retried later through the queue) instead of occupying a consumer for a timeout each, so
 * other apps' pushes go on. After the pause one batch probes: an answer closes the breaker,
 * another failure opens it for twice as long (at most `maxMs`).
 */
export type Breaker = {
  /** Provider failures since the provider last answered. */
  failures: number;
  /** Times it opened in a row (the pause doubles each time). */
  opens: number;
  /** Batches wait until then. */
  openUntil: number;
  /** When it last opened: a batch that started before stops sending. */
  openedAt: number;
};

export type BreakerPolicy = {
  /** The first pause; also how long other batches wait while one probes. */
  baseMs: number;
  maxMs: number;
  /** Provider failures (without an answer in between) that open it; one Timeout is enough. */
  threshold: number;
};

export const closedBreaker = (): Breaker => ({ failures: 0, opens: 0, openUntil: 0, openedAt: 0 });

/** Per-device answers (too many pushes to one token) say nothing about the provider's health. */
const DEVICE_RATE = new Set(["TooManyRequests", "QUOTA_EXCEEDED"]);

/** Whether an answer counts against the provider: it timed out, the network failed, or a 5xx-like retry. */
export const isProviderFailure = (r: SendResult): boolean => !r.ok && r.retry && !DEVICE_RATE.has(r.reason);

/**
 * May a batch send now? When the pause is over, the caller becomes the probe and the others
 * wait one more `baseMs` for its answer.
 */
export function admit(
  b: Breaker,
  p: BreakerPolicy,
  now: number,
): { ok: true } | { ok: false; waitMs: number } {
  if (b.openUntil > now) return { ok: false, waitMs: b.openUntil - now };
  if (b.opens > 0) b.openUntil = now + p.baseMs;
  return { ok: true };
}

/**
 * The answers of one round of sends. Any answer from the provider (accepted, or refused for a
 * reason of the device or request) closes the breaker; provider failures only, `threshold` of
 * them, a Timeout, or any failure of the probe after a pause, open it.
 */
export function report(b: Breaker, p: BreakerPolicy, results: SendResult[], now: number): void {
  const failures = results.filter(isProviderFailure);
  const answered = results.some((r) => r.ok || !r.retry);
  if (answered) {
    Object.assign(b, closedBreaker());
    return;
  }
  if (failures.length === 0) return;
  b.failures += failures.length;
  const timedOut = failures.some((r) => !r.ok && r.reason === "Timeout");
  // A probe that fails (the breaker opened before) opens it again at once.
  if (!timedOut && b.opens === 0 && b.failures < p.threshold) return;
  b.opens += 1;
  b.failures = 0;
  b.openedAt = now;
  b.openUntil = now + Math.min(p.maxMs, p.baseMs * 2 ** (b.opens - 1));
}

/** One breaker per `<app id>:<provider>` in this isolate (a Worker isolate serves many batches). */
const breakers = new Map<string, Breaker>();

export function breakerFor(appId: number, provider: string): Breaker {
  const key = `${appId}:${provider}`;
  let b = breakers.get(key);
  if (!b) {
    b = closedBreaker();
    breakers.set(key, b);
  }
  return b;
}
