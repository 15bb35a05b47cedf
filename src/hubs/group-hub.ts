import { DurableObject } from "cloudflare:workers";
import type { Message } from "../mqtt/session";
import { logHubError, userHub } from "./common";
import { liveRetained, RETAINED_SCHEMA, retainMessage } from "./retained";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS subscribers (user_id TEXT PRIMARY KEY);
`;

/** Messages bound for one member hub, flushed together as one call. */
type Pending = { messages: Message[]; waiters: ((n: number) => void)[] };

/**
 * One per `<app>:<group id>`: which member hubs have subscriptions on this group, the group's
 * retained messages, and the fan-out. A message costs one call per subscribed member hub;
 * messages arriving while a call to a member is being prepared ride along in the same call.
 */
export class GroupHub extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly pending = new Map<string, Pending>();
  private flushScheduled = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA + RETAINED_SCHEMA);
  }

  /** Publishes to the group's subscribers; answers how many connections received it. */
  async publish(app: string, groupId: string, message: Message): Promise<number> {
    try {
      if (message.retain) retainMessage(this.sql, message);
      const users = this.sql.exec<{ user_id: string }>("SELECT user_id FROM subscribers").toArray();
      const counts = await Promise.all(users.map((u) => this.enqueue(app, u.user_id, message)));
      return counts.reduce((a, b) => a + b, 0);
    } catch (err) {
      logHubError(`GroupHub:${app}:${groupId}`, "publish", err);
      return 0;
    }
  }

  async addSubscriber(app: string, groupId: string, userId: string): Promise<void> {
    this.guard(app, groupId, "addSubscriber", () =>
      this.sql.exec("INSERT OR IGNORE INTO subscribers (user_id) VALUES (?)", userId),
    );
  }

  async removeSubscriber(app: string, groupId: string, userId: string): Promise<void> {
    this.guard(app, groupId, "removeSubscriber", () =>
      this.sql.exec("DELETE FROM subscribers WHERE user_id = ?", userId),
    );
  }

  /** Members left the group (D1 already says so): they stop receiving at once. */
  async removeMembers(app: string, groupId: string, userIds: string[]): Promise<void> {
    this.guard(app, groupId, "removeMembers", () => {
      for (const u of userIds) this.sql.exec("DELETE FROM subscribers WHERE user_id = ?", u);
    });
  }

  async subscriberCount(): Promise<number> {
    return (
      this.guard(
        "?",
        "?",
        "subscriberCount",
        () => this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM subscribers").toArray()[0]?.n,
      ) ?? 0
    );
  }

  /** The group's live retained messages. */
  async retained(app: string, groupId: string): Promise<Message[]> {
    return this.guard(app, groupId, "retained", () => liveRetained(this.sql, Date.now())) ?? [];
  }

  /** Runs an entry point's work; an error is logged and answered with undefined, never thrown. */
  private guard<T>(app: string, groupId: string, entry: string, work: () => T): T | undefined {
    try {
      return work();
    } catch (err) {
      logHubError(`GroupHub:${app}:${groupId}`, entry, err);
      return undefined;
    }
  }

  private enqueue(app: string, userId: string, message: Message): Promise<number> {
    return new Promise((resolve) => {
      const key = `${app}\u0000${userId}`;
      const p = this.pending.get(key) ?? { messages: [], waiters: [] };
      p.messages.push(message);
      p.waiters.push(resolve);
      this.pending.set(key, p);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setTimeout(() => void this.flush(), 0);
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batches = [...this.pending.entries()];
    this.pending.clear();
    await Promise.all(
      batches.map(async ([key, p]) => {
        const [app = "", id = ""] = key.split("\u0000");
        let reached = 0;
        try {
          reached = await userHub(this.env, { app, id }).deliver({ app, id }, p.messages);
        } catch (err) {
          logHubError(`GroupHub→${app}:${id}`, "deliver", err);
        }
        // Each waiter learns whether the member was reached (connections of that member).
        for (const w of p.waiters) w(reached > 0 ? Math.ceil(reached / p.messages.length) : 0);
      }),
    );
  }
}
