import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { withSessions } from "../../src/hubs/app-registry";
import { userHub } from "../../src/hubs/common";
import type { PublishPacket } from "../../src/mqtt/codec";
import { REGISTRY_FILTER_MIN } from "../../src/push/publish";
import { NO_SESSION_NOTE } from "../../src/push/truth";
import { admin } from "../helpers/api";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp, type TestApp } from "../helpers/psp";
import { psp, settled, silent } from "../helpers/push";

// A push to many users asks the app registry which of them have an MQTT session (connected, or a
// stored persistent session) and calls only their hubs (src/push/publish.ts): a NEW_ORDER to
// 10,000 technicians does MQTT work for those with a session only. The others' MQTT targets are
// `sent` with a trace that says nothing holds the message.

type Trace = { state: string; why: string | null; events: { state: string; detail: string }[] };
const trace = async (app: TestApp, taskId: string, userId: string) =>
  (await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&user_id=${userId}`)).body
    .data as unknown as Trace;
const tokenOf = async (app: TestApp, sub: string) =>
  String((await psp(app, "POST", "/psp/mqtt/token", { sub })).body.data.token);
const subscribe = async (c: Awaited<ReturnType<typeof mqttConnect>>, filter: string) => {
  c.send({ type: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
  await c.next("suback");
};
/** Whether a UserHub was ever called (its identity is written on the first call). */
const hubWasCalled = (app: TestApp, id: string) =>
  runInDurableObject(userHub(env, { app: app.name, id }), (_, state) => {
    const rows = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'meta'").toArray();
    return (
      rows.length > 0 && state.storage.sql.exec("SELECT v FROM meta WHERE k = 'app'").toArray().length > 0
    );
  });

describe("the app registry lists identities with MQTT sessions", () => {
  it("a push to many users calls only the hubs of users with a session, live or stored", async () => {
    const app = await createApp();
    // `live` is connected; `away` has a persistent session and is offline; u0…u9 never connected.
    const live = await mqttConnect(await tokenOf(app, "live"), 5, "phone");
    await subscribe(live, `${app.name}/user/live/#`);
    const awayToken = await tokenOf(app, "away");
    const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } };
    const away = await mqttConnect(awayToken, 5, "watch", persistent);
    await subscribe(away, `${app.name}/user/away/#`);
    away.send({ type: "disconnect" });
    await away.closed;

    const never = Array.from({ length: REGISTRY_FILTER_MIN }, (_, i) => `u${i}`);
    expect(await withSessions(env, app.name, ["live", "away", ...never])).toEqual(new Set(["live", "away"]));
    // The live-users gauge counts connected identities only.
    const metrics = await admin(`/metrics?appkey=${app.appkey}`);
    expect((metrics.body.apps as { live_users: number }[])[0]?.live_users).toBe(1);

    const r = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: ["live", "away", ...never].join(","),
      payload: silent,
    });
    const taskId = String(r.body.data.task_id);
    expect(await settled(app, taskId)).toMatchObject({ status: "done", total: 12, sent: 12 });

    // The live user has it now; the offline persistent session gets it when it comes back.
    expect(((await live.next("publish")) as PublishPacket).topic).toBe(`${app.name}/user/live/talk`);
    const back = await mqttConnect(awayToken, 5, "watch", persistent);
    expect(((await back.next("publish")) as PublishPacket).topic).toBe(`${app.name}/user/away/talk`);
    live.close();
    back.close();

    // Nobody else's hub was called, and their traces say nothing holds the message.
    for (const id of never) expect(await hubWasCalled(app, id)).toBe(false);
    expect(await hubWasCalled(app, "away")).toBe(true);
    const t = await trace(app, taskId, "u3");
    expect(t.state).toBe("sent");
    expect(t.events.find((e) => e.state === "sent")?.detail).toContain(NO_SESSION_NOTE);
    expect(t.why).toBe(`published on MQTT, but ${NO_SESSION_NOTE}`);
    expect((await trace(app, taskId, "away")).why).not.toContain(NO_SESSION_NOTE);
  });

  it("an identity leaves the registry once its persistent session expired", async () => {
    const app = await createApp();
    const token = await tokenOf(app, "w1");
    const c = await mqttConnect(token, 5, "watch", {
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    c.send({ type: "disconnect" });
    await c.closed;
    expect(await withSessions(env, app.name, ["w1"])).toEqual(new Set(["w1"]));
    // The hub's alarm ends the session after its expiry, then leaves the registry.
    await new Promise((r) => setTimeout(r, 1_200));
    const hub = userHub(env, { app: app.name, id: "w1" });
    await runInDurableObject(hub, async (instance) => instance.alarm?.());
    expect(await withSessions(env, app.name, ["w1"])).toEqual(new Set());
  });
});
