import { describe, expect, it } from "vitest";
import { admin, callJson } from "../helpers/api";
import { mqttConnect, upgradeStatus } from "../helpers/mqtt-ws";
import { loginTechnician, registerTechnician, requestCode, T } from "../helpers/technicians";

// Issue 14 §3: a technician's rights end at once: its login tokens are its MQTT tokens (app
// `technician`), so ending a session, changing the password or a ban closes the connections
// that session opened, with DISCONNECT 0x98 for MQTT 5 clients.

const ADMINISTRATIVE_ACTION = 0x98;

/** The DISCONNECT reason the client got before its socket closed. */
const disconnectReason = async (client: Awaited<ReturnType<typeof mqttConnect>>) => {
  await client.closed;
  return (client.packets.find((p) => p.type === "disconnect") as { reasonCode?: number } | undefined)
    ?.reasonCode;
};

/** Whether the connection still answers: a PINGREQ gets its PINGRESP. */
const stillOpen = async (client: Awaited<ReturnType<typeof mqttConnect>>) => {
  client.send({ type: "pingreq" });
  await client.next("pingresp");
  return true;
};

describe("a technician's MQTT connections end with its rights", () => {
  it("a ban closes them (0x98), the token opens nothing more, login and pushes stop; unban lets it log in", async () => {
    const t = await registerTechnician();
    const client = await mqttConnect(t.token);
    const ban = await admin(`/technicians/${t.id}/ban`, { method: "POST" });
    expect(ban.status).toBe(200);
    expect((ban.body.technician as { status: string }).status).toBe("BANNED");
    expect(await disconnectReason(client)).toBe(ADMINISTRATIVE_ACTION);
    expect(await upgradeStatus(t.token)).toBe(401);
    expect((await loginTechnician(t.phone, t.password)).body).toEqual({
      status: false,
      message: "帐户已被禁用",
    });

    // No push reaches a banned technician: not its certification result, not NEW_ORDER.
    const cert = await admin(`/technicians/${t.id}/certification`, { json: { approved: false } });
    expect(cert.status).toBe(200);
    expect(cert.body.task_id).toBeNull();
    const other = await registerTechnician();
    await admin(`/technicians/${other.id}/certification`, { json: { approved: true } });
    await admin(`/technicians/${t.id}/certification`, { json: { approved: true } });
    const before = (await admin("/orders", { json: { orderType: 1 } })).body.technicians as number;
    await admin(`/technicians/${t.id}/unban`, { method: "POST" });
    const after = (await admin("/orders", { json: { orderType: 1 } })).body.technicians as number;
    expect(after).toBe(before + 1);

    const again = await loginTechnician(t.phone, t.password);
    expect(again.body.status).toBe(true);
    expect((again.body.message as { status: string }).status).toBe("VERIFIED");
    expect(await upgradeStatus(again.token ?? "")).toBe(101);
  });

  it("ban and unban answer 404 for an unknown technician", async () => {
    expect((await admin("/technicians/999999/ban", { method: "POST" })).status).toBe(404);
    expect((await admin("/technicians/abc/unban", { method: "POST" })).status).toBe(404);
  });

  it("a password change closes the connections of the other sessions, not the caller's", async () => {
    const t = await registerTechnician();
    const second = await loginTechnician(t.phone, t.password);
    const mine = await mqttConnect(t.token, 5, "mine");
    const theirs = await mqttConnect(second.token ?? "", 4, "theirs");
    const res = await callJson(`${T}/changePassword`, {
      method: "PUT",
      token: t.token,
      json: { oldPassword: t.password, newPassword: "another-secret" },
    });
    expect(res.body).toEqual({ status: true, message: "修改密码成功" });
    await theirs.closed;
    expect(await upgradeStatus(second.token ?? "")).toBe(401);
    expect(await stillOpen(mine)).toBe(true);
    mine.close();
  });

  it("a password reset closes every connection", async () => {
    const t = await registerTechnician();
    const client = await mqttConnect(t.token);
    const verifySms = await requestCode(t.phone);
    const res = await callJson(`${T}/resetPassword`, {
      method: "PUT",
      json: { phone: t.phone, password: "brand-new-secret", verifySms },
    });
    expect(res.body).toEqual({ status: true, message: null });
    expect(await disconnectReason(client)).toBe(ADMINISTRATIVE_ACTION);
  });

  it("logout ends the session: its connections close and its token opens nothing more", async () => {
    const t = await registerTechnician();
    const other = await loginTechnician(t.phone, t.password);
    const client = await mqttConnect(t.token, 5, "a");
    const kept = await mqttConnect(other.token ?? "", 5, "b");
    const res = await callJson(`${T}/logout`, { method: "POST", token: t.token });
    expect(res.body).toEqual({ status: true, message: null });
    expect(res.res.headers.get("set-cookie")).toMatch(/autoken=;/);
    expect(await disconnectReason(client)).toBe(ADMINISTRATIVE_ACTION);
    expect(await upgradeStatus(t.token)).toBe(401);
    expect((await callJson(`${T}/me`, { token: t.token })).status).toBe(401);
    expect(await stillOpen(kept)).toBe(true);
    kept.close();
  });
});
