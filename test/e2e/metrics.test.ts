import { afterAll, describe, expect, inject, it } from "vitest";
import { BASE, closeAll, connectAs, createApp, eventually, nextMessage, psp } from "./helpers";

// Issue 13 item 3 with real mqtt.js clients against wrangler dev: the metrics move after
// connects, messages in and out, and pushes; the persistent session shows in the session list.
afterAll(closeAll);

const ADMIN = { authorization: `Bearer ${inject("e2eAdminToken")}` };
type Totals = { pushes_accepted: number; mqtt_in: number; mqtt_out: number; mqtt_connects: number };

describe("metrics and sessions over real MQTT", () => {
  it("counts two clients' connects, their messages and a push; lists their sessions", async () => {
    const app = await createApp();
    const phone = await connectAs(app, "u1", {
      protocolVersion: 5,
      clientId: "phone",
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    const watch = await connectAs(app, "u1", { protocolVersion: 4, clientId: "watch" });
    await phone.subscribeAsync(`${app.name}/user/u1/#`, { qos: 1 });
    const got = nextMessage(phone, 5000, (t) => t.endsWith("/talk"));
    await watch.publishAsync(`${app.name}/user/u1/talk`, "hello", { qos: 1 });
    await got;
    const pushed = nextMessage(phone, 5000, (t) => t.endsWith("/msg"));
    const push = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1",
      payload: { display_type: "message", body: { custom: "hi" } },
    });
    expect(push.status).toBe(200);
    await pushed;

    const totals = await eventually(
      async () => {
        const res = await fetch(`${BASE}/api/admin/metrics?appkey=${app.appkey}`, { headers: ADMIN });
        const body = (await res.json()) as { apps: { totals: Totals; live_users: number }[] };
        return body.apps[0];
      },
      (m) => m?.totals.mqtt_out === 2 && m.totals.pushes_accepted === 1,
      15_000,
    );
    expect(totals?.totals).toMatchObject({ pushes_accepted: 1, mqtt_in: 1, mqtt_out: 2, mqtt_connects: 2 });
    expect(totals?.live_users).toBe(1);

    const sessions = await psp(app, "GET", "/psp/users/u1/sessions");
    expect(sessions.body.data.sessions).toEqual([
      expect.objectContaining({
        client_id: "phone",
        protocol_level: 5,
        connected: true,
        expiry_s: 3600,
        subscriptions: 1,
      }),
      expect.objectContaining({ client_id: "watch", protocol_level: 4, connected: true, subscriptions: 0 }),
    ]);

    // The persistent session stays, offline, with its expiry.
    await phone.endAsync();
    const offline = await eventually(
      async () =>
        (await psp(app, "GET", "/psp/users/u1/sessions")).body.data.sessions as Record<string, unknown>[],
      (list) => list.some((s) => s.client_id === "phone" && s.connected === false),
    );
    const left = offline.find((s) => s.client_id === "phone");
    expect(left).toMatchObject({
      connected: false,
      since: expect.any(String),
      expires_at: expect.any(String),
    });
    expect(Date.parse(String(left?.expires_at)) - Date.parse(String(left?.since))).toBe(3_600_000);
  });
});
