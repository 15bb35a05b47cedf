import type { IConnackPacket } from "mqtt-packet";
import { afterAll, describe, it } from "vitest";
import { closeAll, connect, createApp, mqttToken, setApp, sleep } from "./helpers";
import { RawClient, rawClosedWithin } from "./raw";

// Each test has its own app (tenant); the enforcing ones wait out a keepalive, side by side.
afterAll(closeAll);

const serverKeepAlive = (ack: IConnackPacket) => ack.properties?.serverKeepAlive;

describe.concurrent("Server Keep Alive (per app and device class)", () => {
  it("CONNACK carries the device class's keepalive, the floor or the ceiling when they differ from the client's", async ({
    expect,
  }) => {
    const app = await createApp();
    await setApp(app, { mqtt_keepalive: { watch: 300, phone: 120, min: 30, max: 600 } });
    const ask = async (deviceClass: string | undefined, keepalive: number) => {
      const extra = deviceClass ? { device_class: deviceClass } : {};
      const raw = await RawClient.open(await mqttToken(app, "u1", extra), 5);
      const ack = await raw.connect({ clientId: `c-${deviceClass}-${keepalive}`, keepalive });
      expect(ack.reasonCode).toBe(0);
      return serverKeepAlive(ack);
    };
    expect(await ask("watch", 60)).toBe(300);
    expect(await ask("phone", 60)).toBe(120);
    expect(await ask("phone", 120)).toBeUndefined(); // what the client asked: no property
    expect(await ask(undefined, 10)).toBe(30); // floor
    expect(await ask(undefined, 3600)).toBe(600); // ceiling
    expect(await ask(undefined, 200)).toBeUndefined(); // within bounds: the client's own
    expect(await ask("watch", 0)).toBeUndefined(); // keepalive off stays off
  });

  it("an app without the setting leaves every client its own keepalive", async ({ expect }) => {
    const app = await createApp();
    const raw = await RawClient.open(await mqttToken(app, "u1", { device_class: "watch" }), 5);
    const ack = await raw.connect({ clientId: "c", keepalive: 7 });
    expect(ack.reasonCode).toBe(0);
    expect(serverKeepAlive(ack)).toBeUndefined();
  });

  it("the Server Keep Alive is enforced: a 5.0 client asking 60 s but told 2 s is cut after ~3 s with 0x8D", async ({
    expect,
  }) => {
    const app = await createApp();
    await setApp(app, { mqtt_keepalive: { watch: 2 } });
    const raw = await RawClient.open(await mqttToken(app, "u1", { device_class: "watch" }), 5);
    const t0 = Date.now();
    const ack = await raw.connect({ clientId: "silent", keepalive: 60 });
    expect(serverKeepAlive(ack)).toBe(2);
    expect(await raw.next("disconnect", 7000)).toMatchObject({ reasonCode: 0x8d });
    const took = (await rawClosedWithin(raw, 2000)).at - t0;
    expect(took).toBeGreaterThanOrEqual(2800);
    expect(took).toBeLessThan(4800);
  });

  it("mqtt.js follows the Server Keep Alive: it pings at the server's pace and stays connected", async ({
    expect,
  }) => {
    const app = await createApp();
    await setApp(app, { mqtt_keepalive: { phone: 2 } });
    const token = await mqttToken(app, "u1", { device_class: "phone" });
    const c = await connect(token, { protocolVersion: 5, clientId: "pinger", keepalive: 60 });
    let pings = 0;
    let closed = false;
    c.on("packetsend", (p) => {
      if (p.cmd === "pingreq") pings += 1;
    });
    c.on("close", () => {
      closed = true;
    });
    await sleep(5000);
    expect(closed).toBe(false);
    expect(pings).toBeGreaterThanOrEqual(2);
  });

  it("3.1.1 cannot be told another keepalive: its own is enforced, raised to the floor (2 s asked, 4 s floor: cut after ~6 s)", async ({
    expect,
  }) => {
    const app = await createApp();
    await setApp(app, { mqtt_keepalive: { phone: 60, min: 4, max: 5 } });
    const raw = await RawClient.open(await mqttToken(app, "u1", { device_class: "phone" }), 4);
    const t0 = Date.now();
    const ack = await raw.connect({ clientId: "silent311", keepalive: 2 });
    expect(ack.returnCode).toBe(0);
    const took = (await rawClosedWithin(raw, 10_000)).at - t0;
    expect(took).toBeGreaterThanOrEqual(5500);
    expect(took).toBeLessThan(8500);
  });
});
