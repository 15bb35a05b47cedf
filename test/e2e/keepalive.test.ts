import type { Packet } from "mqtt-packet";
import { afterAll, describe, it } from "vitest";
import { closeAll, connectAs, createApp, mqttToken, nextMessage, sleep, subscribeCodes } from "./helpers";
import { RawClient, rawClosedWithin } from "./raw";

// Every test waits out a keepalive period, so they run side by side (each in its own app).
afterAll(closeAll);

const KEEPALIVE = 2; // seconds: the broker allows 1.5 × that, 3 s, without a packet [MQTT-3.1.2-24]

describe.concurrent("keepalive (CONTRACT §3: 1.5 × the client's value)", () => {
  it("a silent 3.1.1 client is disconnected after ~3 s and its will is published", async ({ expect }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const token = await mqttToken(app, "u1");
    const watcher = await connectAs(app, "u1", { clientId: "watcher", keepalive: 60 });
    await subscribeCodes(watcher, `${u}/#`, { qos: 1 });
    const will = nextMessage(watcher, 6000);
    const raw = await RawClient.open(token);
    const t0 = Date.now();
    await raw.connect({
      clientId: "silent",
      keepalive: KEEPALIVE,
      will: { topic: `${u}/gone`, payload: Buffer.from("timed-out"), qos: 1, retain: false },
    });
    const closed = await rawClosedWithin(raw, 6000);
    const took = closed.at - t0;
    expect(took).toBeGreaterThanOrEqual(2800);
    expect(took).toBeLessThan(4800);
    const m = await will;
    expect([m.topic, m.payload]).toEqual([`${u}/gone`, "timed-out"]);
  });

  it("a silent 5.0 client gets DISCONNECT 0x8D (Keep Alive timeout) before the close", async ({ expect }) => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "silent5", keepalive: KEEPALIVE });
    expect(await raw.next("disconnect", 6000)).toMatchObject({ cmd: "disconnect", reasonCode: 0x8d });
    await rawClosedWithin(raw, 2000);
  });

  it("a client that pings (mqtt.js keepalive) stays connected, and every PINGREQ gets a PINGRESP", async ({
    expect,
  }) => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { clientId: "pinger", keepalive: KEEPALIVE });
    let pings = 0;
    let pongs = 0;
    let closed = false;
    c.on("packetsend", (p) => {
      if (p.cmd === "pingreq") pings += 1;
    });
    c.on("packetreceive", (p) => {
      if (p.cmd === "pingresp") pongs += 1;
    });
    c.on("close", () => {
      closed = true;
    });
    await sleep(5000);
    expect(closed).toBe(false);
    expect(c.connected).toBe(true);
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(pongs).toBe(pings);
  });

  it("any packet counts as activity: a client publishing every second without pinging stays", async ({
    expect,
  }) => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    await raw.connect({ clientId: "busy", keepalive: KEEPALIVE });
    let open = true;
    void raw.closed.then(() => {
      open = false;
    });
    for (let i = 0; i < 5; i++) {
      raw.send({
        cmd: "publish",
        topic: `${app.name}/user/u1/tick`,
        payload: String(i),
        qos: 0,
        retain: false,
        dup: false,
      });
      await sleep(1000);
    }
    expect(open).toBe(true);
    raw.send({ cmd: "pingreq" });
    expect((await raw.next("pingresp")) as Packet).toMatchObject({ cmd: "pingresp" });
  });

  it("keepalive 0 turns the timeout off", async ({ expect }) => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1"));
    await raw.connect({ clientId: "forever", keepalive: 0 });
    expect(await raw.quiet(3500)).toEqual([]);
    raw.send({ cmd: "pingreq" });
    expect(await raw.next("pingresp")).toMatchObject({ cmd: "pingresp" });
  });
});
