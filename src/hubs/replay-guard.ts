import { DurableObject } from "cloudflare:workers";
import { countDurableObject } from "../lib/ops";
import { logHubError } from "./common";

/** Shards per app: the same sign always lands on the same shard (its first hex digit). */
const SHARDS = 16;
/** How long past its expiry a row may linger before the alarm sweeps it. */
const SWEEP_SLACK_MS = 60_000;

/**
 * Remembers the signs an app has used until their timestamp leaves the 10-minute window
 * (CONTRACT §2: a signature is good once). One object per app and shard; SQLite holds the used
 * signs, an alarm sweeps the expired ones. A claim is one synchronous read-and-write inside the
 * object, so two identical requests racing are one success and one refusal.
 */
export class ReplayGuard extends DurableObject<Env> {
  private alarmAt: number | null | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "ReplayGuard");
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS used_signs (sign TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
    );
  }

  /** Records `sign` as used until `expiresAt` (ms); false when it was already used and not yet expired. */
  async claim(sign: string, expiresAt: number): Promise<boolean> {
    try {
      const sql = this.ctx.storage.sql;
      const [row] = sql
        .exec<{ expires_at: number }>("SELECT expires_at FROM used_signs WHERE sign = ?", sign)
        .toArray();
      if (row && row.expires_at > Date.now()) return false;
      sql.exec("INSERT OR REPLACE INTO used_signs (sign, expires_at) VALUES (?, ?)", sign, expiresAt);
      await this.sweepBy(expiresAt + SWEEP_SLACK_MS);
      return true;
    } catch (err) {
      logHubError("ReplayGuard", "claim", err);
      throw err;
    }
  }

  /** How many signs are held (operators and tests). */
  size(): number {
    return Number(this.ctx.storage.sql.exec("SELECT count(*) AS n FROM used_signs").one().n);
  }

  override async alarm(): Promise<void> {
    try {
      const sql = this.ctx.storage.sql;
      sql.exec("DELETE FROM used_signs WHERE expires_at <= ?", Date.now());
      this.alarmAt = null;
      const next = sql.exec<{ at: number | null }>("SELECT min(expires_at) AS at FROM used_signs").one().at;
      if (next !== null) await this.sweepBy(next + SWEEP_SLACK_MS);
    } catch (err) {
      logHubError("ReplayGuard", "alarm", err);
    }
  }

  /** Makes sure an alarm is due no later than `at`. */
  private async sweepBy(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }
}

/** The guard object that holds `sign` for `appkey`. */
export function replayGuard(env: Env, appkey: string, sign: string) {
  const shard = Number.parseInt(sign.slice(0, 1), 16) % SHARDS || 0;
  return env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(`${appkey}:${shard}`));
}
