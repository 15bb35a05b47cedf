import { describe, expect, it } from "vitest";
import { QUEUE_SEND_SLACK_MS, requeueCutoff, STUCK_MS } from "../../src/push/tasks";

// The task watchdog re-queues `queued` tasks unchanged since before the cutoff: a message lost,
// not one still waiting in a queue that is behind (docs/reliability.md, the soak).

describe("requeueCutoff", () => {
  const now = 10_000_000;

  it("is STUCK_MS ago when nothing waits in the queue, or when the queue cannot say", () => {
    expect(requeueCutoff(now, null)).toBe(now - STUCK_MS);
    expect(requeueCutoff(now, undefined)).toBe(now - STUCK_MS);
  });

  it("leaves alone the tasks written after the oldest message still waiting (a backlog, not a loss)", () => {
    const oldest = now - 10 * 60_000; // a 10-minute backlog
    const cutoff = requeueCutoff(now, oldest);
    expect(cutoff).toBe(oldest - QUEUE_SEND_SLACK_MS);
    const queuedFiveMinutesAgo = now - 5 * 60_000; // its message is behind the oldest one
    expect(queuedFiveMinutesAgo < cutoff).toBe(false);
    const queuedBeforeTheBacklog = oldest - 2 * QUEUE_SEND_SLACK_MS; // older than anything waiting: lost
    expect(queuedBeforeTheBacklog < cutoff).toBe(true);
  });

  it("is still STUCK_MS ago when the oldest waiting message is recent", () => {
    expect(requeueCutoff(now, now - 1_000)).toBe(now - STUCK_MS);
  });
});
