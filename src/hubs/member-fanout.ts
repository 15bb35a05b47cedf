import { errorText } from "../lib/log";
import type { Message } from "../mqtt/session";
import { type GroupMessage, logHubError, StubCache, userHub } from "./common";
import type { Owed } from "./group-outbox";

/** Messages bound for one member hub, flushed together as one call. */
type Waiter = { resolve: (n: number) => void; reject: (err: unknown) => void };
type Pending = { messages: GroupMessage[]; waiters: Waiter[] };

/**
 * Hands group messages to member UserHubs: one call per member with everything pending for it.
 * A member whose previous call has not returned yet is skipped: its messages wait and go
 * together, in order, when that call returns. Under load a member gets a few large batches
 * instead of one call per message. Used by the GroupHub, and by its GroupRelays for large groups.
 */
export class MemberFanout {
  private readonly pending = new Map<string, Pending>();
  /** Members with a deliver call in flight. */
  private readonly calling = new Set<string>();
  private flushScheduled = false;
  private readonly hubs: StubCache<ReturnType<typeof userHub>>;

  constructor(
    env: Env,
    private readonly label: string,
  ) {
    this.hubs = new StubCache((key) => {
      const [app = "", id = ""] = key.split("\u0000");
      return userHub(env, { app, id });
    });
  }

  /** Resolves with the connections of the member the message reached; rejects when its hub failed. */
  enqueue(app: string, userId: string, message: GroupMessage): Promise<number> {
    return new Promise((resolve, reject) => {
      const key = `${app}\u0000${userId}`;
      const p = this.pending.get(key) ?? { messages: [], waiters: [] };
      p.messages.push(message);
      p.waiters.push({ resolve, reject });
      this.pending.set(key, p);
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => this.flush(), 0);
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [key, p] of this.pending) {
      if (this.calling.has(key)) continue;
      this.pending.delete(key);
      this.calling.add(key);
      void this.send(key, p).finally(() => {
        this.calling.delete(key);
        if (this.pending.has(key)) this.scheduleFlush();
      });
    }
  }

  private async send(key: string, p: Pending): Promise<void> {
    const [app = "", id = ""] = key.split("\u0000");
    let reached = 0;
    try {
      reached = await this.hubs.get(key).deliver({ app, id }, p.messages);
    } catch (err) {
      this.hubs.drop(key);
      logHubError(`${this.label}→${app}:${id}`, "deliver", err);
      for (const w of p.waiters) w.reject(err);
      return;
    }
    // Each waiter learns whether the member was reached (connections of that member).
    for (const w of p.waiters) w.resolve(reached > 0 ? Math.ceil(reached / p.messages.length) : 0);
  }
}

/** What a fan-out did: connections reached, the members whose hub failed, and the first error. */
export type FanOut = { reached: number; failed: Owed[]; error?: string };

/** Hands `m` to each member named, through `fanout`; never rejects (failures are in the answer). */
export async function fanOutTo(fanout: MemberFanout, app: string, m: Message, to: Owed[]): Promise<FanOut> {
  const results = await Promise.allSettled(
    to.map((t) => fanout.enqueue(app, t.user, { ...m, shares: t.shares })),
  );
  const out: FanOut = { reached: 0, failed: [] };
  results.forEach((r, i) => {
    if (r.status === "fulfilled") out.reached += r.value;
    else {
      out.failed.push(to[i] as Owed);
      out.error ??= errorText(r.reason);
    }
  });
  return out;
}
