import { DurableObject } from "cloudflare:workers";
import { errorText } from "../lib/log";
import { countDurableObject } from "../lib/ops";
import type { Message } from "../mqtt/session";
import { ShareRotation, shareMatches } from "../mqtt/shared";
import { logHubError } from "./common";
import { Faults } from "./faults";
import { GroupOutbox, type Owed } from "./group-outbox";
import { groupRelay, relayAbove } from "./group-relay";
import { type FanOut, fanOutTo, MemberFanout } from "./member-fanout";
import { liveRetained, RETAINED_SCHEMA, retainMessage } from "./retained";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS subscribers (user_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS shares (share_key TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (share_key, user_id));
CREATE TABLE IF NOT EXISTS removed (user_id TEXT PRIMARY KEY);
`;

/**
 * One per `<app>:<group id>`: which member hubs have subscriptions on this group (plain ones,
 * and per share group the members with a `$share/…` subscription), the group's retained
 * messages, and the fan-out. Each message goes to every plain subscriber and, per matching
 * share group, to one member in turn, which then picks one of its sessions. A message costs at
 * most one call per subscribed member hub (src/hubs/member-fanout.ts); messages arriving while a
 * call to a member is in flight ride along in its next call. Above 5,000 subscribers, slices of
 * 5,000 go to GroupRelays that make those calls (src/hubs/group-relay.ts).
 * RPC methods log and rethrow: a publish whose delivery to a member failed rejects (after the
 * other members were served), so the caller retries instead of counting it as sent.
 */
export class GroupHub extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly fanout: MemberFanout;
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
    this.fanout = new MemberFanout(env, "GroupHub");
    this.outbox = new GroupOutbox(
      this.sql,
      ctx.storage,
      `GroupHub:${ctx.id.name ?? ctx.id.toString()}`,
      (m) => this.targetsOf(m),
      (app, m, to) => this.deliverTo(app, m, to),
      () => this.subscribers().length,
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
      const out = await this.fanOut(app, message, this.targetsOf(message));
      if (out.failed.length) throw new Error(out.error ?? `${out.failed.length} member hub(s) failed`);
      return out.reached;
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

  private subscribers(): readonly string[] {
    this.subscriberIds ??= this.sql
      .exec<{ user_id: string }>("SELECT user_id FROM subscribers")
      .toArray()
      .map((u) => u.user_id);
    return this.subscriberIds;
  }

  /** Every plain subscriber, and per matching share group the member whose turn it is. */
  private targetsOf(m: Message): Owed[] {
    const picked = this.pickShares(m.topic);
    const subscribers = this.subscribers();
    const users = picked.size ? new Set([...subscribers, ...picked.keys()]) : subscribers;
    return [...users].map((user) => ({ user, shares: picked.get(user) ?? [] }));
  }

  /** Hands a message to each member hub named; answers those whose hub failed. */
  private async deliverTo(app: string, m: Message, to: Owed[]): Promise<Owed[]> {
    return (await this.fanOut(app, m, to)).failed;
  }

  /**
   * Up to relayAbove(env) members, this object calls them itself; above it, each slice of that
   * many goes to its own GroupRelay (a relay that fails leaves its whole slice owed).
   */
  private async fanOut(app: string, m: Message, to: Owed[]): Promise<FanOut> {
    const size = relayAbove(this.env);
    if (to.length <= size) return fanOutTo(this.fanout, app, m, to);
    const slices: Owed[][] = [];
    for (let i = 0; i < to.length; i += size) slices.push(to.slice(i, i + size));
    const results = await Promise.allSettled(
      slices.map((slice, i) => groupRelay(this.env, this.ctx.id.toString(), i).fanOut(app, m, slice)),
    );
    const out: FanOut = { reached: 0, failed: [] };
    results.forEach((r, i) => {
      if (r.status === "fulfilled") {
        out.reached += r.value.reached;
        out.failed.push(...(r.value.failed as Owed[]));
        out.error ??= r.value.error;
      } else {
        logHubError("GroupHub", `relay ${i}`, r.reason);
        out.failed.push(...(slices[i] as Owed[]));
        out.error ??= errorText(r.reason);
      }
    });
    return out;
  }
}
