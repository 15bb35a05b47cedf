import type { MqttClient } from "mqtt";
import { afterAll, describe, expect, it } from "vitest";
import {
  adminCall,
  closeAll,
  collect,
  connect,
  connectAs,
  createApp,
  mqttToken,
  nextMessage,
  psp,
  setApp,
  subscribeCodes,
  upgradeStatus,
} from "./helpers";

// Issue 14 §3 with real mqtt.js clients: revoking tokens, kicking and disabling the app end the
// connections already open (MQTT 5: DISCONNECT 0x98 Administrative action, then close).

afterAll(closeAll);

/** Resolves with the server's DISCONNECT reason (undefined for 3.1.1) once the connection closed. */
const ended = (client: MqttClient) =>
  new Promise<number | undefined>((resolve) => {
    let reason: number | undefined;
    client.on("disconnect", (packet) => {
      reason = packet.reasonCode;
    });
    client.once("close", () => resolve(reason));
  });

describe.concurrent("operator actions on open MQTT connections", () => {
  it("revoke-tokens: both connections end, 5.0 with 0x98; the old token opens nothing, a new one does", async () => {
    const app = await createApp();
    const old = await mqttToken(app, "u1");
    const v5 = await connect(old, { protocolVersion: 5, clientId: "phone" });
    const v4 = await connect(old, { clientId: "watch" });
    const [e5, e4] = [ended(v5), ended(v4)];
    const res = await psp(app, "POST", "/psp/users/u1/revoke-tokens");
    expect(res.body).toEqual({ ret: "SUCCESS", data: { user_id: "u1", token_generation: 1, closed: 2 } });
    expect(await e5).toBe(0x98);
    await e4;
    expect((await upgradeStatus(`?token=${old}`)).status).toBe(401);
    const fresh = await connectAs(app, "u1", { clientId: "phone" });
    expect(fresh.connected).toBe(true);
  });

  it("a kick publishes the kicked client's will, as any server close; revoke-tokens discards it", async () => {
    const app = await createApp();
    const willOf = (u: string) => ({
      topic: `${app.name}/user/${u}/gone`,
      payload: Buffer.from(u),
      qos: 1 as const,
      retain: false,
    });
    // A second connection of the same user watches its own topic.
    const watch1 = await connectAs(app, "u1", { clientId: "watch" });
    await subscribeCodes(watch1, `${app.name}/user/u1/#`);
    const kicked = await connectAs(app, "u1", { clientId: "k", will: willOf("u1") });
    const got = nextMessage(watch1, 4000);
    const kickedEnds = ended(kicked);
    const res = await psp(app, "POST", "/psp/users/u1/kick", { client_id: "k" });
    expect(res.body.data).toEqual({ user_id: "u1", closed: 1 });
    expect((await got).payload).toBe("u1");
    await kickedEnds;
    expect(watch1.connected).toBe(true);

    const revoked = await connectAs(app, "u3", { clientId: "r", will: { ...willOf("u3"), retain: true } });
    const gone = ended(revoked);
    const revokedRes = await adminCall("POST", `/apps/${app.appkey}/users/u3/revoke-tokens`);
    expect(revokedRes.body).toMatchObject({ user_id: "u3", token_generation: 1, closed: 1 });
    await gone;
    // A retained will, had it been published, would greet the next subscriber of u3's topic.
    const later = await connectAs(app, "u3", { clientId: "later" });
    const none = collect(later, 1000);
    await subscribeCodes(later, `${app.name}/user/u3/#`);
    expect(await none).toEqual([]);
  });

  it("disabling the app ends every connection of the app and refuses new ones until it is enabled", async () => {
    const app = await createApp();
    const t1 = await mqttToken(app, "u1");
    const a = await connect(t1, { protocolVersion: 5, clientId: "a" });
    const b = await connectAs(app, "u2", { clientId: "b" });
    const [ea, eb] = [ended(a), ended(b)];
    await setApp(app, { enabled: false });
    expect(await ea).toBe(0x98);
    await eb;
    expect((await upgradeStatus(`?token=${t1}`)).status).toBe(403);
    await setApp(app, { enabled: true });
    expect((await connect(t1, { clientId: "a" })).connected).toBe(true);
  });
});
