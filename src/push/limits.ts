import type { BreakerPolicy } from "./breaker";
import { type TimeoutEnv, timeoutMs } from "./providers/http";

/**
 * Sends in flight at once per batch. A Worker invocation keeps at most six connections open;
 * more would queue inside the runtime, eating into the provider timeout.
 */
export const SEND_CONCURRENCY = 6;

/** Every bound of a provider batch, derived from the one provider timeout T (PROVIDER_TIMEOUT_MS). */
export type DeliveryLimits = {
  /** T: one provider request, and one token request. */
  timeoutMs: number;
  /**
   * A claimed target is given up as the claim of a dead run after this long (3 T): a round
   * claims, sends (at most 2 T: a token request, then the push) and records.
   */
  claimTtlMs: number;
  /** No new round starts this long (6 T) after a batch began: the rest goes back to the queue. */
  deadlineMs: number;
  /** The app's breaker per provider: a first pause of T, doubling to at most 6 T. */
  breaker: BreakerPolicy;
};

export function limitsOf(env: TimeoutEnv): DeliveryLimits {
  const t = timeoutMs(env);
  return {
    timeoutMs: t,
    claimTtlMs: 3 * t,
    deadlineMs: 6 * t,
    breaker: { baseMs: t, maxMs: 6 * t, threshold: 3 },
  };
}
