import { and, eq, ne, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { type TechnicianRow, technicianSessions, technicians } from "../db/schema";
import { accountFail } from "../errors";
import { hashPassword, randomHex, verifyPassword } from "../lib/crypto";
import { PHONE } from "../lib/ids";
import { checkCode, consumeCodeStatement } from "./sms-codes";
import { registerGetuiDevice } from "./technician-push";

/** Passwords: at least 6 characters (seed 001), at most 128. */
export const PASSWORD_MIN = 6;
export const PASSWORD_MAX = 128;
export const passwordProblem = (password: string): string | null =>
  password.length < PASSWORD_MIN
    ? "密码至少6位"
    : password.length > PASSWORD_MAX
      ? "密码不能超过128位"
      : null;

/** Sessions last 30 days. */
export const SESSION_TTL_S = 30 * 24 * 3600;
/** Login rate limit: 5 wrong passwords in a row lock the phone for 15 minutes. */
export const LOGIN_MAX_FAILURES = 5;
export const LOGIN_LOCK_MS = 15 * 60 * 1000;

export const findByPhone = (db: Db, phone: string) =>
  db.query.technicians.findFirst({ where: eq(technicians.phone, phone) });

export const findById = (db: Db, id: number) =>
  db.query.technicians.findFirst({ where: eq(technicians.id, id) });

const isUniqueViolation = (err: unknown) =>
  err instanceof Error && /UNIQUE constraint failed/.test(err.message);

/** Seed 001 §1. Checks are reported together, joined with ',' as the seed's examples show. */
export const register = async (
  db: Db,
  input: { phone: string; password: string; verifySms: string },
): Promise<TechnicianRow> => {
  const problems: string[] = [];
  const phoneOk = PHONE.test(input.phone);
  if (!phoneOk) problems.push("手机号格式错误");
  else if (await findByPhone(db, input.phone)) problems.push("手机号已被注册");
  const pw = passwordProblem(input.password);
  if (pw) problems.push(pw);
  if (!phoneOk || !(await checkCode(db, input.phone, input.verifySms))) problems.push("验证码错误");
  if (problems.length > 0) throw accountFail(problems.join(","));

  const hash = await hashPassword(input.password);
  try {
    // One transaction: the code is consumed and the account created, or neither.
    const [consumed] = await db.$client.batch([
      consumeCodeStatement(db.$client, input.phone, input.verifySms),
      db.$client
        .prepare("INSERT INTO technicians (phone, password_hash) SELECT ?1, ?2 WHERE changes() = 1")
        .bind(input.phone, hash),
    ]);
    if (!consumed?.results.length) throw accountFail("验证码错误");
  } catch (err) {
    if (isUniqueViolation(err)) throw accountFail("手机号已被注册");
    throw err;
  }
  const row = await findByPhone(db, input.phone);
  if (!row) throw new Error("registered technician not found");
  return row;
};

/** Opens a session row; the JWT names it, and it dies with a password change. */
export const openSession = async (db: Db, technicianId: number): Promise<string> => {
  const id = randomHex(16);
  const now = Date.now();
  await db.batch([
    db
      .delete(technicianSessions)
      .where(
        and(
          eq(technicianSessions.technicianId, technicianId),
          sql`${technicianSessions.expiresAt} <= ${now}`,
        ),
      ),
    db.insert(technicianSessions).values({ id, technicianId, expiresAt: now + SESSION_TTL_S * 1000 }),
  ]);
  return id;
};

/** Seed 001 §2, with a per-phone lock after repeated wrong passwords. */
export const login = async (
  db: Db,
  input: { phone: string; password: string },
  ip: string | null,
): Promise<TechnicianRow> => {
  if (!PHONE.test(input.phone)) throw accountFail("手机号格式错误");
  const row = await findByPhone(db, input.phone);
  if (!row) throw accountFail("手机号未注册");
  const now = Date.now();
  if (row.lockedUntil && row.lockedUntil > now) throw accountFail("登录失败次数过多,请15分钟后再试");
  if (!input.password || !(await verifyPassword(input.password, row.passwordHash))) {
    await db
      .update(technicians)
      .set({
        lockedUntil: sql`CASE WHEN ${technicians.failedLogins} + 1 >= ${LOGIN_MAX_FAILURES} THEN ${now + LOGIN_LOCK_MS} ELSE ${technicians.lockedUntil} END`,
        failedLogins: sql`CASE WHEN ${technicians.failedLogins} + 1 >= ${LOGIN_MAX_FAILURES} THEN 0 ELSE ${technicians.failedLogins} + 1 END`,
      })
      .where(eq(technicians.id, row.id));
    throw accountFail("密码错误");
  }
  if (row.banned) throw accountFail("帐户已被禁用");
  const [updated] = await db
    .update(technicians)
    .set({ failedLogins: 0, lockedUntil: null, lastLoginAt: now, lastLoginIp: ip })
    .where(eq(technicians.id, row.id))
    .returning();
  return updated ?? row;
};

/** Seed 001 §3: a new password by SMS code; every session of the account ends. Answers its id. */
export const resetPassword = async (
  db: Db,
  input: { phone: string; password: string; verifySms: string },
): Promise<number> => {
  const problems: string[] = [];
  const phoneOk = PHONE.test(input.phone);
  const row = phoneOk ? await findByPhone(db, input.phone) : undefined;
  if (!phoneOk) problems.push("手机号格式错误");
  else if (!row) problems.push("手机号未注册");
  const pw = passwordProblem(input.password);
  if (pw) problems.push(pw);
  if (!phoneOk || !(await checkCode(db, input.phone, input.verifySms))) problems.push("验证码错误");
  if (problems.length > 0 || !row) throw accountFail(problems.join(","));

  const hash = await hashPassword(input.password);
  const d1 = db.$client;
  const [consumed] = await d1.batch([
    consumeCodeStatement(d1, input.phone, input.verifySms),
    d1
      .prepare(
        "UPDATE technicians SET password_hash = ?1, failed_logins = 0, locked_until = NULL WHERE id = ?2 AND changes() = 1",
      )
      .bind(hash, row.id),
    // Every session ends: changes() here is the password update's.
    d1.prepare("DELETE FROM technician_sessions WHERE technician_id = ?1 AND changes() = 1").bind(row.id),
  ]);
  if (!consumed?.results.length) throw accountFail("验证码错误");
  return row.id;
};

/** Ends one session (logout): its token stops working. */
export const closeSession = async (db: Db, sessionId: string): Promise<void> => {
  await db.delete(technicianSessions).where(eq(technicianSessions.id, sessionId));
};

/** Seed 001 §4: the calling session stays, every other session of the account ends. */
export const changePassword = async (
  db: Db,
  technician: TechnicianRow,
  sessionId: string,
  input: { oldPassword: string; newPassword: string },
): Promise<void> => {
  const problems: string[] = [];
  if (!input.oldPassword || !(await verifyPassword(input.oldPassword, technician.passwordHash))) {
    problems.push("原密码错误");
  }
  const pw = passwordProblem(input.newPassword);
  if (pw) problems.push(pw);
  if (problems.length > 0) throw accountFail(problems.join(","));
  const hash = await hashPassword(input.newPassword);
  await db.batch([
    db.update(technicians).set({ passwordHash: hash }).where(eq(technicians.id, technician.id)),
    db
      .delete(technicianSessions)
      .where(and(eq(technicianSessions.technicianId, technician.id), ne(technicianSessions.id, sessionId))),
  ]);
};

/** Seed 001 §7. A Getui push id names one device: it leaves any other account that had it. */
export const setPushId = async (db: Db, technicianId: number, pushId: string): Promise<void> => {
  if (!pushId) throw accountFail("pushId不能为空");
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(pushId)) throw accountFail("pushId格式错误");
  await db.batch([
    db
      .update(technicians)
      .set({ pushId: null })
      .where(and(eq(technicians.pushId, pushId), ne(technicians.id, technicianId))),
    db.update(technicians).set({ pushId }).where(eq(technicians.id, technicianId)),
  ]);
  await registerGetuiDevice(db, technicianId, pushId);
};
