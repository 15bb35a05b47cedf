import { afterAll, describe, expect, it } from "vitest";
import { closeAll, connectAs, createApp, eventually, kill, presence, psp, sleep } from "./helpers";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const status = (app: { name: string }) => `${app.name}/app/status`;

describe.concurrent("GET /psp/presence (CONTRACT §2, seed 002 focus)", () => {
  it("a user never seen is offline, focus 0, last_seen null", async () => {
    const app = await createApp();
    const res = await psp(app, "GET", "/psp/presence?user_id=nobody");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      ret: "SUCCESS",
      data: { user_id: "nobody", online: false, focus: 0, last_seen: null },
    });
  });

  it("refuses a user id that is not an identifier with 400", async () => {
    const app = await createApp();
    const res = await psp(app, "GET", "/psp/presence?user_id=a%2Fb");
    expect(res.status).toBe(400);
    expect(res.body.ret).toBe("FAIL");
  });

  it("is online with focus 0 once connected, with an ISO last_seen", async () => {
    const app = await createApp();
    const before = Date.now();
    await connectAs(app, "u1", { clientId: "phone" });
    const p = await presence(app, "u1");
    expect(p).toMatchObject({ user_id: "u1", online: true, focus: 0 });
    expect(p.last_seen).toMatch(ISO);
    expect(Date.parse(p.last_seen as string)).toBeGreaterThanOrEqual(before - 1000);
  });

  it.each([4, 5] as const)("level %i: focus follows the status messages the client publishes", async (v) => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { protocolVersion: v, clientId: "phone" });
    await c.publishAsync(status(app), JSON.stringify({ user_id: "u1", focus: 1 }), { qos: 1 });
    expect(await presence(app, "u1")).toMatchObject({ online: true, focus: 1 });
    await c.publishAsync(status(app), JSON.stringify({ user_id: "u1", focus: 0 }), { qos: 1 });
    expect(await presence(app, "u1")).toMatchObject({ online: true, focus: 0 });
    await c.publishAsync(status(app), JSON.stringify({ user_id: "u1", focus: 1 }), { qos: 0 });
    expect(
      (
        await eventually(
          () => presence(app, "u1"),
          (p) => p.focus === 1,
        )
      ).focus,
    ).toBe(1);
  });

  it("accepts a numeric user_id in the status message (the seed's watches send numbers)", async () => {
    const app = await createApp();
    const c = await connectAs(app, "1001", { clientId: "phone" });
    await c.publishAsync(status(app), '{"user_id":1001,"focus":1}', { qos: 1 });
    expect(await presence(app, "1001")).toMatchObject({ online: true, focus: 1 });
  });

  it("after DISCONNECT: offline, focus 0, last_seen the time it left", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { clientId: "phone" });
    await c.publishAsync(status(app), JSON.stringify({ user_id: "u1", focus: 1 }), { qos: 1 });
    await sleep(1100);
    const leftAt = Date.now();
    await c.endAsync();
    const p = await eventually(
      () => presence(app, "u1"),
      (x) => !x.online,
    );
    expect(p).toMatchObject({ user_id: "u1", online: false, focus: 0 });
    expect(p.last_seen).toMatch(ISO);
    const seen = Date.parse(p.last_seen as string);
    expect(seen).toBeGreaterThanOrEqual(leftAt - 500);
    expect(seen).toBeLessThanOrEqual(Date.now() + 500);
  });

  it("after an abnormal close without a will: offline and focus 0", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { clientId: "phone" });
    await c.publishAsync(status(app), JSON.stringify({ user_id: "u1", focus: 1 }), { qos: 1 });
    kill(c);
    const p = await eventually(
      () => presence(app, "u1"),
      (x) => !x.online,
    );
    expect(p).toMatchObject({ online: false, focus: 0 });
  });

  it("stays online while any connection of the user is alive; focus is per user", async () => {
    const app = await createApp();
    const phone = await connectAs(app, "u1", { clientId: "phone" });
    const tablet = await connectAs(app, "u1", { clientId: "tablet" });
    await tablet.publishAsync(status(app), JSON.stringify({ user_id: "u1", focus: 1 }), { qos: 1 });
    await phone.endAsync();
    await sleep(200);
    expect(await presence(app, "u1")).toMatchObject({ online: true, focus: 1 });
    await tablet.endAsync();
    expect(
      await eventually(
        () => presence(app, "u1"),
        (x) => !x.online,
      ),
    ).toMatchObject({ online: false, focus: 0 });
  });

  it("a reconnect starts in background (focus 0) until the app says otherwise", async () => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { clientId: "phone" });
    await c.publishAsync(status(app), JSON.stringify({ user_id: "u1", focus: 1 }), { qos: 1 });
    await c.endAsync();
    await eventually(
      () => presence(app, "u1"),
      (x) => !x.online,
    );
    await connectAs(app, "u1", { clientId: "phone" });
    expect(await presence(app, "u1")).toMatchObject({ online: true, focus: 0 });
  });

  it("presence is per app: the same user id in another app is a different user", async () => {
    const a = await createApp();
    const b = await createApp();
    await connectAs(a, "u1", { clientId: "phone" });
    expect((await presence(a, "u1")).online).toBe(true);
    expect(await presence(b, "u1")).toEqual({ user_id: "u1", online: false, focus: 0, last_seen: null });
  });
});
