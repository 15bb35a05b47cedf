import { describe, expect, it } from "vitest";
import { admit, closedBreaker, isProviderFailure, report } from "../../src/push/breaker";
import { limitsOf } from "../../src/push/limits";
import { dead, fail, later, OK, TIMEOUT } from "../../src/push/providers/http";
import { stablePushId } from "../../src/push/push-id";

const policy = { baseMs: 1000, maxMs: 6000, threshold: 3 };
const unavailable = later("ServiceUnavailable");

describe("the per-app provider breaker", () => {
  it("opens on one round of Timeouts, holds batches for the pause, then lets one probe through", () => {
    const b = closedBreaker();
    expect(admit(b, policy, 0)).toEqual({ ok: true });
    report(b, policy, [TIMEOUT, TIMEOUT], 10);
    expect(b).toMatchObject({ opens: 1, openedAt: 10, openUntil: 1010 });
    expect(admit(b, policy, 500)).toEqual({ ok: false, waitMs: 510 });
    expect(admit(b, policy, 1010)).toEqual({ ok: true }); // the probe
    expect(admit(b, policy, 1020)).toEqual({ ok: false, waitMs: 990 }); // others wait for its answer
  });

  it("a failed probe doubles the pause up to the cap; an answer closes it", () => {
    const b = closedBreaker();
    const pauses: number[] = [];
    let now = 0;
    for (let i = 0; i < 5; i++) {
      report(b, policy, [unavailable, unavailable, unavailable], now);
      pauses.push(b.openUntil - now);
      now = b.openUntil;
      expect(admit(b, policy, now).ok).toBe(true);
    }
    expect(pauses).toEqual([1000, 2000, 4000, 6000, 6000]);
    report(b, policy, [OK], now);
    expect(b).toEqual(closedBreaker());
  });

  it("needs `threshold` 5xx answers before it opens, and any answer in a round resets the count", () => {
    const b = closedBreaker();
    report(b, policy, [unavailable, unavailable], 0);
    expect(b.opens).toBe(0);
    report(b, policy, [unavailable, dead("Unregistered")], 0); // the provider answered
    expect(b.failures).toBe(0);
    report(b, policy, [unavailable, unavailable, unavailable], 0);
    expect(b.opens).toBe(1);
  });

  it("per-device throttling and refusals say nothing against the provider", () => {
    expect(isProviderFailure(later("TooManyRequests", 5))).toBe(false);
    expect(isProviderFailure(later("QUOTA_EXCEEDED"))).toBe(false);
    expect(isProviderFailure(fail("BadTopic"))).toBe(false);
    expect(isProviderFailure(later("NetworkError"))).toBe(true);
    expect(isProviderFailure(TIMEOUT)).toBe(true);
    const b = closedBreaker();
    report(b, policy, Array(10).fill(later("TooManyRequests")), 0);
    expect(b).toEqual(closedBreaker());
  });

  it("every bound follows the one provider timeout", () => {
    expect(limitsOf({})).toEqual({
      timeoutMs: 10_000,
      claimTtlMs: 30_000,
      deadlineMs: 60_000,
      breaker: { baseMs: 10_000, maxMs: 60_000, threshold: 3 },
    });
    expect(limitsOf({ PROVIDER_TIMEOUT_MS: "2000" }).claimTtlMs).toBe(6000);
    expect(limitsOf({ PROVIDER_TIMEOUT_MS: "nonsense" }).timeoutMs).toBe(10_000);
  });
});

describe("stable push ids", () => {
  it("one UUID per task, provider and device: the same on every attempt, another for another target", async () => {
    const id = await stablePushId("u1", "apns", "ab".repeat(32));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await stablePushId("u1", "apns", "ab".repeat(32))).toBe(id);
    expect(await stablePushId("u2", "apns", "ab".repeat(32))).not.toBe(id);
    expect(await stablePushId("u1", "apns", "cd".repeat(32))).not.toBe(id);
  });
});
