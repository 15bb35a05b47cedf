import { afterEach, describe, expect, it } from "vitest";
import { closeAll, connect, createApp, mqttToken, nextMessage, upgradeStatus } from "./helpers";

afterEach(closeAll);

describe("GET /mqtt upgrade (CONTRACT §3)", () => {
  it("refuses an upgrade without a token with HTTP 401, before any MQTT byte", async () => {
    expect((await upgradeStatus("")).status).toBe(401);
  });

  it("refuses a forged token with HTTP 401", async () => {
    expect((await upgradeStatus("?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")).status).toBe(
      401,
    );
  });

  it("accepts the token as Authorization: Bearer and echoes the mqtt subprotocol", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    expect(await upgradeStatus("", { authorization: `Bearer ${token}` })).toEqual({
      status: 101,
      protocol: "mqtt",
    });
    expect(await upgradeStatus(`?token=${token}`)).toEqual({ status: 101, protocol: "mqtt" });
  });

  it.each([4, 5] as const)("CONNACKs an MQTT level %i client", async (protocolVersion) => {
    const app = await createApp();
    const client = await connect(await mqttToken(app, "u1"), { protocolVersion, clientId: "phone-1" });
    expect(client.connected).toBe(true);
  });

  it("publishes and receives on the identity's own user topic", async () => {
    const app = await createApp();
    const token = await mqttToken(app, "u1");
    const a = await connect(token, { clientId: "a" });
    const b = await connect(token, { clientId: "b" });
    await b.subscribeAsync(`${app.name}/user/u1/#`, { qos: 1 });
    const got = nextMessage(b);
    await a.publishAsync(`${app.name}/user/u1/talk`, "hello", { qos: 1 });
    expect((await got).payload).toBe("hello");
  });
});
