import { deleteCookie } from "hono/cookie";
import { accountFail, resultFail } from "../../errors";
import { readParams } from "../../http/body";
import { perIpLimit } from "../../http/ip-limit";
import { api, route } from "../../http/openapi";
import { PHONE } from "../../lib/ids";
import { endTechnicianSessions } from "../../services/revocation";
import { requestCode } from "../../services/sms-codes";
import { accountView } from "../../services/technician-view";
import {
  changePassword,
  closeSession,
  login,
  register,
  resetPassword,
  setPushId,
} from "../../services/technicians";
import { smsProvider } from "../../sms/provider";
import {
  changePasswordParams,
  loginParams,
  pushIdParams,
  registerParams,
  resetParams,
  verifySmsParams,
} from "./schemas";
import { COOKIE, requireTechnician, startSession } from "./session";

const clientIp = (headers: Headers) => headers.get("cf-connecting-ip") ?? headers.get("x-real-ip") ?? null;

const TOO_FREQUENT = "请求过于频繁,请稍后再试";
const smsLimit = perIpLimit(
  (env) => env.SMS_IP_LIMIT,
  () => resultFail("TOO_FREQUENT_REQUEST", TOO_FREQUENT),
);
const loginLimit = perIpLimit(
  (env) => env.LOGIN_IP_LIMIT,
  () => accountFail(TOO_FREQUENT),
);

/** Seed 001 §1–4, §7 and CONTRACT §4's verifySms. */
export const account = api();
route(
  account,
  "technician-public",
  {
    method: "post",
    path: "/verifySms",
    summary: "Send a 6-digit SMS code (5 minutes, 5 tries, one per phone per 60 s)",
    body: verifySmsParams,
    envelope: "result",
  },
  smsLimit,
  async (c) => {
    const { phone } = verifySmsParams.parse(await readParams(c));
    if (!PHONE.test(phone)) throw resultFail("INVALID_PARAMETER", "手机号格式错误");
    await requestCode(c.var.db, smsProvider(c.env), phone);
    return c.json({ result: true, message: "", error: "", data: null });
  },
);
route(
  account,
  "technician-public",
  {
    method: "post",
    path: "/register",
    summary: "Register with phone, password and SMS code; sets the autoken cookie",
    body: registerParams,
  },
  async (c) => {
    const input = registerParams.parse(await readParams(c));
    const technician = await register(c.var.db, input);
    await startSession(c, technician.id);
    return c.json({ status: true, message: accountView(technician) });
  },
);
route(
  account,
  "technician-public",
  { method: "post", path: "/login", summary: "Log in; sets the autoken cookie", body: loginParams },
  loginLimit,
  async (c) => {
    const input = loginParams.parse(await readParams(c));
    const technician = await login(c.var.db, input, clientIp(c.req.raw.headers));
    await startSession(c, technician.id);
    return c.json({ status: true, message: accountView(technician) });
  },
);
route(
  account,
  "technician-public",
  {
    method: "put",
    path: "/resetPassword",
    summary: "Reset the password with an SMS code (ends every session)",
    body: resetParams,
  },
  async (c) => {
    const id = await resetPassword(c.var.db, resetParams.parse(await readParams(c)));
    // Every session ended: so do their MQTT connections.
    await endTechnicianSessions(c.env, id, {});
    return c.json({ status: true, message: null });
  },
);
route(
  account,
  "technician",
  {
    method: "put",
    path: "/changePassword",
    summary: "Change the password (ends the other sessions)",
    body: changePasswordParams,
  },
  requireTechnician,
  async (c) => {
    const input = changePasswordParams.parse(await readParams(c));
    await changePassword(c.var.db, c.var.technician, c.var.sessionId, input);
    // The other sessions ended: so do their MQTT connections; the caller's stay.
    await endTechnicianSessions(c.env, c.var.technician.id, { exceptSid: c.var.sessionId });
    return c.json({ status: true, message: "修改密码成功" });
  },
);
route(
  account,
  "technician",
  { method: "post", path: "/logout", summary: "Log out (ends this session)" },
  requireTechnician,
  async (c) => {
    await closeSession(c.var.db, c.var.sessionId);
    await endTechnicianSessions(c.env, c.var.technician.id, { sid: c.var.sessionId });
    deleteCookie(c, COOKIE, { path: "/" });
    return c.json({ status: true, message: null });
  },
);
route(
  account,
  "technician",
  { method: "post", path: "/pushId", summary: "Set the Getui push id", body: pushIdParams },
  requireTechnician,
  async (c) => {
    const { pushId } = pushIdParams.parse(await readParams(c));
    await setPushId(c.var.db, c.var.technician.id, pushId);
    return c.json({ status: true, message: null });
  },
);
