import { DurableObject } from "cloudflare:workers";
import { countDurableObject } from "../lib/ops";
import type { Message } from "../mqtt/session";
import { ShareRotation, shareMatches } from "../mqtt/shared";
import { type GroupMessage, logHubError, userHub } from "./common";
import { Faults } from "./faults";
import { GroupOutbox, type Owed } from "./group-outbox";
import { liveRetained, RETAINED_SCHEMA, retainMessage } from "./retained";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS subscribers (user_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS shares (share_key TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (share_key, user_id));
CREATE TABLE IF NOT EXISTS removed (user_id TEXT PRIMARY KEY);
`;

/** Messages bound for one member hub, flushed together as one call. */
type Waiter = { resolve: (n: number) => void; reject: (err: unknown) => void };
type Pending = { messages: GroupMessage[]; waiters: Waiter[] };

/**
 * One per `<app>:<group id>`: which member hubs have subscriptions on this group (plain ones,
 * and per share group the members with a `$share/…` subscription), the group's retained
 * messages, and the fan-out. Each message goes to every plain subscriber and, per matching
 * share group, to one member in turn, which then picks one of its sessions. A message costs at most one call per subscribed member
 * hub; messages arriving while a call to a member is in flight ride along in its next call.
 * RPC methods log and rethrow: a publish whose delivery to a member failed rejects (after the
 * other members were served), so the caller retries instead of counting it as sent.
 */
export class GroupHub extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly pending = new Map<string, Pending>();
  /** Members with a deliver call in flight. */
  private readonly calling = new Set<string>();
  private flushScheduled = false;
  private readonly rotation = new ShareRotation();
  private readonly faults: Faults;
  private readonly outbox: GroupOutbox;
  /**
   * The tables each message reads (subscribers, share groups, removed members), kept in memory
   * once read: every write to them goes through this class and drops its copy, and a woken
   * object reads them again.
   */
  private subscriberIds: readonly string[] | null = null;
  private shareRows: readonly { share_key: string; user_id: string }[] | null = null;
  private removedIds: ReadonlySet<string> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "GroupHub");
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA + RETAINED_SCHEMA);
    this.faults = new Faults(this.sql, env);
    this.outbox = new GroupOutbox(
      this.sql,
      ctx.storage,
      `GroupHub:${ctx.id.name ?? ctx.id.toString()}`,
      (m) => this.targetsOf(m),
      (app, m, to) => this.deliverTo(app, m, to),
    );
  }

  /**
   * A client's message (or Will) to the group. QoS 1/2: written to the outbox before this
   * returns, so the publisher's PUBACK means the platform holds it; fanned out from there.
   * QoS 0: fanned out without a write, nothing awaited. Waits while the outbox is full.
   */
  async accept(app: string, groupId: string, message: Message): Promise<void> {
    try {
      this.faults.check("accept");
      if (this.fromRemovedMember(message)) return; // behind the UserHub's own check
      if (message.retain) retainMessage(this.sql, message);
      if (message.qos > 0) return await this.outbox.add(app, message);
      void this.deliverTo(app, message, this.targetsOf(message));
    } catch (err) {
      logHubError(`GroupHub:${app}:${groupId}`, "accept", err);
      throw err;
    }
  }

  override async alarm(): Promise<void> {
    try {
      await this.outbox.alarm();
    } catch (err) {
      logHubError("GroupHub", "alarm", err);
      throw err;
    }
  }

  /** Messages in the outbox (taken, not yet handed to every member hub). */
  async backlog(): Promise<number> {
    return this.guard("?", "?", "backlog", () => this.outbox.size());
  }

  /** Publishes to the group's subscribers; answers how many connections received it. */
  async publish(app: string, groupId: string, message: Message): Promise<number> {
    try {
      this.faults.check("publish");
      if (this.fromRemovedMember(message)) {
        logHubError(`GroupHub:${app}:${groupId}`, "publish", "refused: the publisher is no longer a member");
        return 0;
      }
      if (message.retain) retainMessage(this.sql, message);
      const counts = await Promise.allSettled(
        this.targetsOf(message).map((t) => this.enqueue(app, t.user, { ...message, shares: t.shares })),
      );
      let reached = 0;
      for (const c of counts) {
        if (c.status === "rejected") throw c.reason;
        reached += c.value;
      }
      return reached;
    } catch (err) {
      logHubError(`GroupHub:${app}:${groupId}`, "publish", err);
      throw err;
    }
  }

  async addSubscriber(app: string, groupId: string, userId: string): Promise<void> {
    this.guard(app, groupId, "addSubscriber", () => {
      this.subscriberIds = null;
      this.sql.exec("INSERT OR IGNORE INTO subscribers (user_id) VALUES (?)", userId);
    });
  }

  /** A member identity joins a share group (a `$share/…` filter reaching this group). */
  async addShare(app: string, groupId: string, userId: string, key: string): Promise<void> {
    try {
      this.shareRows = null;
      this.sql.exec("INSERT OR IGNORE INTO shares (share_key, user_id) VALUES (?, ?)", key, userId);
    } catch (err) {
      logHubError(`GroupHub:${app}:${groupId}`, "addShare", err);
      throw err;
    }
  }

  async removeShare(app: string, groupId: string, userId: string, key: string): Promise<void> {
    try {
      this.shareRows = null;
      this.sql.exec("DELETE FROM shares WHERE share_key = ? AND user_id = ?", key, userId);
    } catch (err) {
      logHubError(`GroupHub:${app}:${groupId}`, "removeShare", err);
      throw err;
    }
  }

  async removeSubscriber(app: string, groupId: string, userId: string): Promise<void> {
    this.guard(app, groupId, "removeSubscriber", () => {
      this.subscriberIds = null;
      this.sql.exec("DELETE FROM subscribers WHERE user_id = ?", userId);
    });
  }

  /**
   * Members left the group (D1 already says so): they stop receiving at once, and what they
   * publish is refused until they are added again (`removed`, a check behind the UserHub's own).
   */
  async removeMembers(app: string, groupId: string, userIds: string[]): Promise<void> {
    this.guard(app, groupId, "removeMembers", () => {
      this.subscriberIds = null;
      this.shareRows = null;
      this.removedIds = null;
      for (const u of userIds) {
        this.sql.exec("DELETE FROM subscribers WHERE user_id = ?", u);
        this.sql.exec("DELETE FROM shares WHERE user_id = ?", u);
        this.sql.exec("INSERT OR IGNORE INTO removed (user_id) VALUES (?)", u);
      }
    });
  }

  /** Members joined (D1 already says so): a member removed before may publish again. */
  async addMembers(app: string, groupId: string, userIds: string[]): Promise<void> {
    this.guard(app, groupId, "addMembers", () => {
      this.removedIds = null;
      for (const u of userIds) this.sql.exec("DELETE FROM removed WHERE user_id = ?", u);
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
    return this.guard(app, groupId, "retained", () => liveRetained(this.sql, Date.now()));
  }

  /** Tests only (TEST_HOOKS): makes an RPC method throw its next `times` calls. */
  async injectFault(method: string, times: number): Promise<void> {
    this.faults.arm(method, times);
  }

  /** Runs an RPC method's work; an error is logged with context and rethrown. */
  private guard<T>(app: string, groupId: string, entry: string, work: () => T): T {
    try {
      this.faults.check(entry);
      return work();
    } catch (err) {
      logHubError(`GroupHub:${app}:${groupId}`, entry, err);
      throw err;
    }
  }

  /** A client's message (`from` is `<user id>/<client id>`) whose user was removed: refused. */
  private fromRemovedMember(message: Message): boolean {
    const user = message.from?.split("/")[0];
    if (user === undefined) return false;
    this.removedIds ??= new Set(
      this.sql
        .exec<{ user_id: string }>("SELECT user_id FROM removed")
        .toArray()
        .map((r) => r.user_id),
    );
    return this.removedIds.has(user);
  }

  /** For each share group matching the topic, the member whose turn it is: member → its groups. */
  private pickShares(topic: string): Map<string, string[]> {
    const byKey = new Map<string, string[]>();
    this.shareRows ??= this.sql
      .exec<{ share_key: string; user_id: string }>(
        "SELECT share_key, user_id FROM shares ORDER BY share_key, user_id",
      )
      .toArray();
    for (const r of this.shareRows) {
      if (!shareMatches(r.share_key, topic)) continue;
      byKey.set(r.share_key, [...(byKey.get(r.share_key) ?? []), r.user_id]);
    }
    const picked = new Map<string, string[]>();
    for (const [key, members] of byKey) {
      const user = this.rotation.pick(key, members);
      if (user !== null) picked.set(user, [...(picked.get(user) ?? []), key]);
    }
    return picked;
  }

  /** Every plain subscriber, and per matching share group the member whose turn it is. */
  private targetsOf(m: Message): Owed[] {
    const picked = this.pickShares(m.topic);
    this.subscriberIds ??= this.sql
      .exec<{ user_id: string }>("SELECT user_id FROM subscribers")
      .toArray()
      .map((u) => u.user_id);
    const users = picked.size ? new Set([...this.subscriberIds, ...picked.keys()]) : this.subscriberIds;
    return [...users].map((user) => ({ user, shares: picked.get(user) ?? [] }));
  }

  /** Hands a message to each member hub named; answers those whose hub failed. */
  private async deliverTo(app: string, m: Message, to: Owed[]): Promise<Owed[]> {
    const results = await Promise.allSettled(
      to.map((t) => this.enqueue(app, t.user, { ...m, shares: t.shares })),
    );
    return to.filter((_, i) => results[i]?.status === "rejected");
  }

  private enqueue(app: string, userId: string, message: GroupMessage): Promise<number> {
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

  /**
   * One call per member with everything pending for it. A member whose previous call has not
   * returned yet is skipped: its messages wait and go together, in order, when that call
   * returns. Under load a member gets a few large batches instead of one call per message.
   */
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
      reached = await userHub(this.env, { app, id }).deliver({ app, id }, p.messages);
    } catch (err) {
      logHubError(`GroupHub→${app}:${id}`, "deliver", err);
      for (const w of p.waiters) w.reject(err);
      return;
    }
    // Each waiter learns whether the member was reached (connections of that member).
    for (const w of p.waiters) w.resolve(reached > 0 ? Math.ceil(reached / p.messages.length) : 0);
  }
}
