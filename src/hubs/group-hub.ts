import { DurableObject } from "cloudflare:workers";
import type { QoS } from "../mqtt/codec/types";
import type { Message, MessageProps } from "../mqtt/session";
import { fromJson, logHubError, toJson, userHub } from "./common";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS subscribers (user_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, props TEXT, expires_at INTEGER);
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
    this.sql.exec(SCHEMA);
  }

  /** Publishes to the group's subscribers; answers how many connections received it. */
  async publish(app: string, groupId: string, message: Message): Promise<number> {
    try {
      if (message.retain) this.retain(message);
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
    return this.guard(app, groupId, "retained", () => this.liveRetained()) ?? [];
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

  private liveRetained(): Message[] {
    this.sql.exec("DELETE FROM retained WHERE expires_at IS NOT NULL AND expires_at <= ?", Date.now());
    return this.sql
      .exec<{
        topic: string;
        payload: ArrayBuffer;
        qos: number;
        props: string | null;
        expires_at: number | null;
      }>("SELECT * FROM retained")
      .toArray()
      .map((r) => ({
        topic: r.topic,
        payload: new Uint8Array(r.payload),
        qos: r.qos as QoS,
        retain: true,
        props: fromJson<MessageProps>(r.props),
        expiresAt: r.expires_at ?? undefined,
      }));
  }

  private retain(m: Message) {
    if (m.payload.byteLength === 0) {
      this.sql.exec("DELETE FROM retained WHERE topic = ?", m.topic); // [MQTT-3.3.1-10/11]
      return;
    }
    this.sql.exec(
      `INSERT INTO retained (topic, payload, qos, props, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos, props = excluded.props,
       expires_at = excluded.expires_at`,
      m.topic,
      m.payload,
      m.qos,
      m.props ? toJson(m.props) : null,
      m.expiresAt ?? null,
    );
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
