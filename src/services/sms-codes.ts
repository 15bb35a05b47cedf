import { and, eq, lte, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { smsCodes } from "../db/schema";
import { resultFail } from "../errors";
import { randomDigits, safeEqual } from "../lib/crypto";
import type { SmsProvider } from "../sms/provider";

/** CONTRACT §4: 6 digits, valid 5 minutes, 5 tries, one request per phone per 60 s. */
export const CODE_TTL_MS = 5 * 60 * 1000;
export const CODE_MAX_TRIES = 5;
export const CODE_INTERVAL_MS = 60 * 1000;

/** Issues a new code for `phone` and sends it; at most one per phone per 60 s. */
export const requestCode = async (db: Db, provider: SmsProvider, phone: string): Promise<void> => {
  const now = Date.now();
  const code = randomDigits(6);
  const issued = await db
    .insert(smsCodes)
    .values({ phone, code, sentAt: now, expiresAt: now + CODE_TTL_MS, tries: 0 })
    .onConflictDoUpdate({
      target: smsCodes.phone,
      set: { code, sentAt: now, expiresAt: now + CODE_TTL_MS, tries: 0 },
      setWhere: lte(smsCodes.sentAt, now - CODE_INTERVAL_MS),
    })
    .returning({ phone: smsCodes.phone });
  if (issued.length === 0) throw resultFail("TOO_FREQUENT_REQUEST", "请求过于频繁,请稍后再试");
  try {
    await provider.send(phone, code);
  } catch (err) {
    // Nothing half-done: a code that never left can be requested again at once.
    await db.delete(smsCodes).where(and(eq(smsCodes.phone, phone), eq(smsCodes.code, code)));
    console.error(`sms: sending to ${phone} failed: ${err instanceof Error ? err.message : String(err)}`);
    throw resultFail("SMS_SEND_FAILED", "短信发送失败,请稍后再试");
  }
};

/**
 * Whether `code` is the phone's live code. A wrong code uses up one of the 5 tries; after the
 * last one the code is dead. Does not consume a right code: `consumeCode` does, atomically with
 * the change it authorises.
 */
export const checkCode = async (db: Db, phone: string, code: string): Promise<boolean> => {
  const row = await db.query.smsCodes.findFirst({ where: eq(smsCodes.phone, phone) });
  if (!row || row.expiresAt <= Date.now() || row.tries >= CODE_MAX_TRIES) return false;
  if (safeEqual(row.code, code)) return true;
  await db
    .update(smsCodes)
    .set({ tries: sql`${smsCodes.tries} + 1` })
    .where(eq(smsCodes.phone, phone));
  return false;
};

/**
 * The statement that consumes a live code. Put it first in a D1 batch (one transaction) and guard
 * the statements after it with `changes() = 1`, so the change happens exactly when the code is used.
 * Raw D1 because drizzle cannot batch a guarded INSERT … SELECT.
 */
export const consumeCodeStatement = (d1: D1Database, phone: string, code: string) =>
  d1
    .prepare(
      "DELETE FROM sms_codes WHERE phone = ?1 AND code = ?2 AND expires_at > ?3 AND tries < ?4 RETURNING phone",
    )
    .bind(phone, code, Date.now(), CODE_MAX_TRIES);
