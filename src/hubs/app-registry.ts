import { DurableObject } from "cloudflare:workers";
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

/**
 * Which identities of an app have open MQTT connections, so that disabling the app can end
 * them all (docs/mqtt.md "Revocation"). One object per app and shard. A UserHub joins when its
 * first connection opens and leaves when its last one closes: one call each, never per
 * message. An entry left behind (a hub evicted between the two) is harmless: ending the
 * connections of a hub that has none does nothing. While the app is disabled, joins are
 * refused, so no upgrade slips in between the D1 update and the sweep.
 * RPC methods log and rethrow.
 */
export class AppRegistry extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS live (user_id TEXT PRIMARY KEY); CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);",
    );
  }

  /** A hub's first connection opens; false (the upgrade is refused) while the app is disabled. */
  async join(app: string, userId: string): Promise<boolean> {
    return this.guard(app, "join", () => {
      if (this.disabled()) return false;
      this.sql.exec("INSERT OR IGNORE INTO live (user_id) VALUES (?)", userId);
      return true;
    });
  }

  /** A hub's last connection closed. */
  async leave(app: string, userId: string): Promise<void> {
    return this.guard(app, "leave", () => {
      this.sql.exec("DELETE FROM live WHERE user_id = ?", userId);
    });
  }

  /** Identities of this shard with open connections (the live-connections gauge). */
  async liveUsers(app: string): Promise<number> {
    return this.guard(app, "liveUsers", () => {
      return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM live").toArray()[0]?.n ?? 0;
    });
  }

  /**
   * The app was enabled or disabled in D1. Disabled: joins are refused from now on, and every
   * registered hub ends its connections (DISCONNECT 0x98, wills discarded). Answers how many
   * connections were closed; rejects (after trying every hub) when a hub could not be reached.
   */
  async setEnabled(app: string, enabled: boolean): Promise<number> {
    return this.guard(app, "setEnabled", async () => {
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

  private disabled(): boolean {
    return this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'disabled'").toArray()[0]?.v === "1";
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
