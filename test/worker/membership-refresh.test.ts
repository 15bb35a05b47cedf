import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { userHub } from "../../src/hubs/common";
import type { Hub } from "../../src/hubs/user-context";
import { MEMBERSHIPS_FRESH_MS } from "../../src/hubs/user-groups";
import type { PubackPacket } from "../../src/mqtt/codec";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp, type TestApp } from "../helpers/psp";
import { psp } from "../helpers/push";

// A UserHub learns of membership changes from the members call at once; it reads D1 again at a
// CONNECT only when its copy is MEMBERSHIPS_FRESH_MS old (docs/design/mqtt.md "Membership").
// When the call to the hub failed (the members call answered 500), that read is what catches up.

const publishToGroup = async (app: TestApp, token: string) => {
  const c = await mqttConnect(token, 5, "phone");
  c.send({
    type: "publish",
    topic: `${app.name}/group/g1/chat`,
    payload: new TextEncoder().encode("hi"),
    qos: 1,
    retain: false,
    dup: false,
    messageId: 1,
  });
  const ack = (await c.next("puback")) as PubackPacket;
  c.close();
  return ack.reasonCode ?? 0;
};

describe("a UserHub's memberships", () => {
  it("are read from D1 at a CONNECT once stale, catching up a change the hub missed", async () => {
    const app = await createApp();
    await psp(app, "PUT", "/psp/groups/g1", { name: "g1" });
    const token = String((await psp(app, "POST", "/psp/mqtt/token", { sub: "u1" })).body.data.token);
    const hub = userHub(env, { app: app.name, id: "u1" });

    // Not a member: the first CONNECT reads D1, and the group refuses the publish (0x87).
    expect(await publishToGroup(app, token)).toBe(0x87);

    // The membership lands in D1, but the call to the hub fails.
    await hub.injectFault("setMembership", 1);
    expect((await psp(app, "POST", "/psp/groups/g1/members", { add: ["u1"] })).status).toBe(500);

    // The hub's copy is fresh, so a CONNECT now does not read D1 again.
    expect(await publishToGroup(app, token)).toBe(0x87);

    // Once the copy is older than MEMBERSHIPS_FRESH_MS, the next CONNECT reads D1.
    // (Through the hub's store, which keeps its meta values in memory.)
    await runInDurableObject(hub, (instance) => {
      const { store } = (instance as unknown as { hub: Hub }).hub;
      store.setMeta("memberships_at", Date.now() - MEMBERSHIPS_FRESH_MS - 1);
    });
    expect(await publishToGroup(app, token)).toBe(0);
  });
});
