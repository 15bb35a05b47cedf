import { DurableObject } from "cloudflare:workers";
import { countDurableObject } from "../lib/ops";
import { hubName, logHubError, userHub } from "./common";

/** Shards per app: a user always lands on the same one (a hash of its id). */
export const REGISTRY_SHARDS = 8;
/** UserHubs a shard calls at once when the app is disabled. */
const CONCURRENCY = 50;

const shardOf = (userId: string): number => {
  let h = 2166136261;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 16777619);
  return (h >>> 0) % REGISTRY_SHARDS;
};

export const appRegistry = (env: Env, app: string, shard: number) =>
  env.APP_REGISTRY.get(env.APP_REGISTRY.idFromName(hubName(app, String(shard))));
export const registryOf = (env: Env, app: string, userId: string) => appRegistry(env, app, shardOf(userId));

/** Which of an app's `userIds` have an MQTT session, open or stored: one call per shard. */
export async function withSessions(env: Env, app: string, userIds: string[]): Promise<Set<string>> {
  const byShard = new Map<number, string[]>();
  for (const id of userIds) {
    const shard = shardOf(id);
    const ids = byShard.get(shard) ?? [];
    ids.push(id);
    byShard.set(shard, ids);
  }
  const lists = await Promise.all(
    [...byShard].map(([shard, ids]) => appRegistry(env, app, shard).withSessions(app, ids)),
  );
  return new Set(lists.flat());
}

/**
 * Which identities of an app have MQTT sessions: open connections (`connected` 1), or only
 * stored persistent sessions (0). Disabling the app ends the connections of them all
 * (docs/mqtt.md "Revocation"), and a push to many users publishes only to the hubs listed here
 * (an identity without a session would take nothing). One object per app and shard. A UserHub
 * joins when its first connection opens, parks when its last one closes with a persistent
 * session left, and leaves when it has neither: one call each, never per message. An entry left
 * behind (a hub evicted in between) is harmless: it costs a hub call that does nothing. While
 * the app is disabled, joins are refused, so no upgrade slips in between the D1 update and the
 * sweep. RPC methods log and rethrow.
 */
export class AppRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "AppRegistry");
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS live (user_id TEXT PRIMARY KEY, connected INTEGER NOT NULL DEFAULT 1); CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);",
    );
    // Objects made before `connected` existed listed connected identities only.
    const columns = this.sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('live')").toArray();
    if (!columns.some((c) => c.name === "connected"))
      this.sql.exec("ALTER TABLE live ADD COLUMN connected INTEGER NOT NULL DEFAULT 1");
  }

  /** A hub's first connection opens; false (the upgrade is refused) while the app is disabled. */
  async join(app: string, userId: string): Promise<boolean> {
    return this.guard(app, "join", () => {
      if (this.disabled()) return false;
      this.upsert(userId, 1);
      return true;
    });
  }

  /** A hub's last connection closed, and a persistent session is left. */
  async park(app: string, userId: string): Promise<void> {
    return this.guard(app, "park", () => this.upsert(userId, 0));
  }

  /** A hub has no connection and no session left. */
  async leave(app: string, userId: string): Promise<void> {
    return this.guard(app, "leave", () => {
      this.sql.exec("DELETE FROM live WHERE user_id = ?", userId);
    });
  }

  /** Identities of this shard with open connections (the live-connections gauge). */
  async liveUsers(app: string): Promise<number> {
    return this.guard(app, "liveUsers", () => {
      return (
        this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM live WHERE connected = 1").toArray()[0]?.n ??
        0
      );
    });
  }

  /** Which of `userIds` (of this shard) have a session, open or stored. */
  async withSessions(app: string, userIds: string[]): Promise<string[]> {
    return this.guard(app, "withSessions", () =>
      this.sql
        .exec<{ user_id: string }>(
          "SELECT user_id FROM live WHERE user_id IN (SELECT value FROM json_each(?))",
          JSON.stringify(userIds),
        )
        .toArray()
        .map((r) => r.user_id),
    );
  }

  /**
   * The app was enabled or disabled in D1. Disabled: joins are refused from now on, and every
   * registered hub ends its connections (DISCONNECT 0x98, wills discarded). Answers how many
   * connections were closed; rejects (after trying every hub) when a hub could not be reached.
   */
  async setEnabled(app: string, enabled: boolean): Promise<number> {
    return this.guard(app, "setEnabled", async () => {
      this.disabledFlag = !enabled;
      this.sql.exec(
        "INSERT INTO meta (k, v) VALUES ('disabled', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        enabled ? "0" : "1",
      );
      if (enabled) return 0;
      const users = this.sql
        .exec<{ user_id: string }>("SELECT user_id FROM live")
        .toArray()
        .map((r) => r.user_id);
      let closed = 0;
      let failure: unknown = null;
      for (let i = 0; i < users.length; i += CONCURRENCY) {
        const results = await Promise.allSettled(
          users.slice(i, i + CONCURRENCY).map((id) => userHub(this.env, { app, id }).revoke({ app, id }, {})),
        );
        for (const r of results) {
          if (r.status === "fulfilled") closed += r.value.closed;
          else failure ??= r.reason;
        }
      }
      if (failure) throw failure;
      return closed;
    });
  }

  private upsert(userId: string, connected: 0 | 1): void {
    this.sql.exec(
      "INSERT INTO live (user_id, connected) VALUES (?, ?) ON CONFLICT (user_id) DO UPDATE SET connected = excluded.connected",
      userId,
      connected,
    );
  }

  /** Kept in memory once read: setEnabled is its only writer. */
  private disabledFlag: boolean | null = null;

  private disabled(): boolean {
    this.disabledFlag ??=
      this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'disabled'").toArray()[0]?.v === "1";
    return this.disabledFlag;
  }

  private async guard<T>(app: string, entry: string, work: () => T | Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      logHubError(`AppRegistry:${app}`, entry, err);
      throw err;
    }
  }
}
