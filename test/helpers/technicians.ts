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
