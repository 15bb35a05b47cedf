import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { groupHub } from "../../src/hubs/common";
import { groupRelay, relayAbove } from "../../src/hubs/group-relay";
import type { PublishPacket } from "../../src/mqtt/codec";
import { mqttConnect, type WsClient } from "../helpers/mqtt-ws";
import { createApp } from "../helpers/psp";
import { psp } from "../helpers/push";

// A group with more subscribers than one invocation should call fans out through GroupRelays,
// one per slice (src/hubs/group-relay.ts). The worker tests set the slice to 3 members
// (GROUP_RELAY_ABOVE in vitest.config.ts; 5,000 elsewhere), so 10 members take 4 relays. A
// relay that fails leaves its slice owed in the GroupHub's outbox, retried by its alarm.

describe("GroupRelay", () => {
  it("a QoS 1 message to a 10-member group reaches every member once, even when a relay fails once", async () => {
    expect(relayAbove(env)).toBe(3);
    const app = await createApp();
    await psp(app, "PUT", "/psp/groups/g1", { name: "g1" });
    const members = Array.from({ length: 10 }, (_, i) => `u${i}`);
    await psp(app, "POST", "/psp/groups/g1/members", { add: members });
    const clients: WsClient[] = [];
    for (const id of members) {
      const token = String((await psp(app, "POST", "/psp/mqtt/token", { sub: id })).body.data.token);
      const c = await mqttConnect(token, 5, "phone");
      c.send({
        type: "subscribe",
        messageId: 1,
        subscriptions: [{ topic: `${app.name}/group/g1/#`, qos: 1 }],
      });
      await c.next("suback");
      clients.push(c);
    }
    // The relay of the second slice (u3…u5 in subscription order) fails its first call.
    const hubId = groupHub(env, app.name, "g1").id.toString();
    await groupRelay(env, hubId, 1).injectFault("fanOut", 1);

    const [publisher] = clients as [WsClient];
    publisher.send({
      type: "publish",
      topic: `${app.name}/group/g1/chat`,
      payload: new TextEncoder().encode("hello"),
      qos: 1,
      retain: false,
      dup: false,
      messageId: 7,
    });
    expect(await publisher.next("puback")).toMatchObject({ messageId: 7 });
    for (const c of clients) {
      const p = (await c.next("publish")) as PublishPacket;
      expect(new TextDecoder().decode(p.payload)).toBe("hello");
      c.send({ type: "puback", messageId: p.messageId ?? 0 });
    }
    // The failed slice was retried once, not the others: nobody has it twice.
    await new Promise((r) => setTimeout(r, 1_500));
    for (const c of clients) expect(c.packets.filter((p) => p.type === "publish")).toHaveLength(1);
    expect(await groupHub(env, app.name, "g1").backlog()).toBe(0);
    for (const c of clients) c.close();
  }, 20_000);
});
