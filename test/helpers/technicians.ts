import { env } from "cloudflare:workers";
import { call, callJson } from "./api";

export const T = "/api/mobile/technician/v2";

let seq = 0;
/** A phone no other test uses (mainland format, random middle digits). */
export const newPhone = () => {
  seq += 1;
  const rand = String(Math.floor(Math.random() * 1e6)).padStart(6, "0");
  return `139${rand}${String(seq % 100).padStart(2, "0")}`;
};

/** The code the SMS webhook stand-in last received for `phone`. */
export const lastSmsCode = async (phone: string): Promise<string | undefined> => {
  const res = await fetch(`${env.STAND_IN_URL}/sms/last?phone=${phone}`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { code: string }).code;
};

/** Requests a code through the API and reads it from the SMS stand-in. */
export const requestCode = async (phone: string): Promise<string> => {
  const { body } = await callJson(`${T}/verifySms`, { json: { phone } });
  if (body.result !== true) throw new Error(`verifySms failed: ${JSON.stringify(body)}`);
  const code = await lastSmsCode(phone);
  if (!code) throw new Error("no SMS code reached the stand-in");
  return code;
};

/** The `autoken` cookie value a response set. */
export const cookieToken = (res: Response): string | undefined =>
  /autoken=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];

export type Tech = { id: number; phone: string; password: string; token: string };

/** Registers a technician through the API and returns its session token. */
export const registerTechnician = async (password = "secret123"): Promise<Tech> => {
  const phone = newPhone();
  const verifySms = await requestCode(phone);
  const res = await call(`${T}/register`, { json: { phone, password, verifySms } });
  const body = (await res.json()) as { status: boolean; message: { id: number } };
  const token = cookieToken(res);
  if (!body.status || !token) throw new Error(`register failed: ${JSON.stringify(body)}`);
  return { id: body.message.id, phone, password, token };
};

/** Moves a phone's SMS code back in time (as if `ms` had passed since it was sent). */
export const ageSmsCode = (phone: string, ms: number) =>
  env.DB.prepare("UPDATE sms_codes SET sent_at = sent_at - ?1, expires_at = expires_at - ?1 WHERE phone = ?2")
    .bind(ms, phone)
    .run();

/** Everything the SMS stand-in holds for `phone`: the last code and how many were delivered. */
export const lastSms = async (phone: string): Promise<{ code?: string; count?: number }> => {
  const res = await fetch(`${env.STAND_IN_URL}/sms/last?phone=${phone}`);
  return (await res.json()) as { code?: string; count?: number };
};

/** Makes the next SMS to `phone` fail at the stand-in (503), once. */
export const failNextSms = async (phone: string) => {
  const res = await fetch(`${env.STAND_IN_URL}/sms/fail?phone=${phone}`, { method: "POST" });
  await res.body?.cancel();
};

/** A `technicians` row as D1 holds it (snake_case columns), or null. */
export const techRow = (id: number) =>
  env.DB.prepare("SELECT * FROM technicians WHERE id = ?1").bind(id).first<Record<string, unknown>>();

export const techRowByPhone = (phone: string) =>
  env.DB.prepare("SELECT * FROM technicians WHERE phone = ?1").bind(phone).first<Record<string, unknown>>();

/** The `sms_codes` row of a phone, or null. */
export const smsRow = (phone: string) =>
  env.DB.prepare("SELECT * FROM sms_codes WHERE phone = ?1")
    .bind(phone)
    .first<{ phone: string; code: string; sent_at: number; expires_at: number; tries: number }>();

/** The number of live session rows of a technician. */
export const sessionCount = async (id: number) =>
  (
    await env.DB.prepare("SELECT count(*) AS n FROM technician_sessions WHERE technician_id = ?1")
      .bind(id)
      .first<{ n: number }>()
  )?.n;

/** Sets columns of a technician directly in D1 (status, id_photo, …). */
export const setTechColumns = (id: number, columns: Record<string, string | number | null>) => {
  const names = Object.keys(columns);
  const set = names.map((n, i) => `${n} = ?${i + 2}`).join(", ");
  return env.DB.prepare(`UPDATE technicians SET ${set} WHERE id = ?1`)
    .bind(id, ...names.map((n) => columns[n] ?? null))
    .run();
};

/** Logs in through the API; returns the answer and the new session token. */
export const loginTechnician = async (phone: string, password: string) => {
  const res = await call(`${T}/login`, { json: { phone, password } });
  const body = (await res.json()) as { status: boolean; message: unknown };
  return { res, body, token: cookieToken(res) };
};
