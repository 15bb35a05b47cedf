import type { MqttClient } from "mqtt";
import { afterAll, describe, it } from "vitest";
import {
  closeAll,
  connectAs,
  createApp,
  makeGroup,
  mqttToken,
  nextMessage,
  open,
  subscribeCodes,
} from "./helpers";
import { RawClient } from "./raw";

// Each test has its own app (tenant), so the tests of this file run side by side.
afterAll(closeAll);

const v5 = { protocolVersion: 5 as const };

/**
 * Records the payloads a member receives on `jobs` topics until the sentinel arrives on the
 * `done` topic (a plain subscription, published after the jobs by the same publisher: every job
 * delivery to this member was written before it).
 */
function jobsUntilSentinel(client: MqttClient, done: string) {
  return new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const timer = setTimeout(() => reject(new Error(`no sentinel; got ${got.join(",")}`)), 10_000);
    client.on("message", (topic, payload) => {
      if (topic === done) {
        clearTimeout(timer);
        resolve(got);
      } else if (topic.includes("/jobs/")) got.push(payload.toString());
    });
  });
}

const jobs = Array.from({ length: 6 }, (_, i) => `job-${i}`);

describe.concurrent("shared subscriptions $share/<name>/<filter>", () => {
  it("CONNACK says Shared Subscription Available (0x2A)", async ({ expect }) => {
    const app = await createApp();
    const { connack } = await open(await mqttToken(app, "u1"), { ...v5, clientId: "c" });
    expect(connack.properties?.sharedSubscriptionAvailable).toBe(true);
  });

  it("two connections of one user: each message reaches exactly one member, in turn; a plain subscriber gets all", async ({
    expect,
  }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const share = `$share/workers/${u}/jobs/#`;
    const members: MqttClient[] = [];
    for (const id of ["a", "b"]) {
      const c = await connectAs(app, "u1", { ...v5, clientId: id });
      expect(await subscribeCodes(c, [share, `${u}/done`], { qos: 1 })).toEqual([1, 1]);
      members.push(c);
    }
    const plain = await connectAs(app, "u1", { ...v5, clientId: "plain" });
    await subscribeCodes(plain, [`${u}/jobs/#`, `${u}/done`], { qos: 1 });
    const seen = [...members, plain].map((c) => jobsUntilSentinel(c, `${u}/done`));
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    for (const j of jobs) await pub.publishAsync(`${u}/jobs/x`, j, { qos: 1 });
    await pub.publishAsync(`${u}/done`, "sentinel", { qos: 1 });
    const [a, b, all] = await Promise.all(seen);
    expect([...(a ?? []), ...(b ?? [])].sort()).toEqual(jobs);
    expect(a).toHaveLength(3); // round robin
    expect(b).toHaveLength(3);
    expect(all).toEqual(jobs);
  });

  it("two users of one group: each group message reaches exactly one of them", async ({ expect }) => {
    const app = await createApp();
    await makeGroup(app, "fam", ["u1", "u2", "u3"]);
    const g = `${app.name}/group/fam`;
    const members: MqttClient[] = [];
    for (const user of ["u1", "u2"]) {
      const c = await connectAs(app, user, { ...v5, clientId: "phone" });
      expect(await subscribeCodes(c, [`$share/crew/${g}/jobs/+`, `${g}/done`], { qos: 1 })).toEqual([1, 1]);
      members.push(c);
    }
    const seen = members.map((c) => jobsUntilSentinel(c, `${g}/done`));
    const pub = await connectAs(app, "u3", { ...v5, clientId: "pub" });
    for (const j of jobs) await pub.publishAsync(`${g}/jobs/x`, j, { qos: 1 });
    await pub.publishAsync(`${g}/done`, "sentinel", { qos: 1 });
    const [u1, u2] = await Promise.all(seen);
    expect([...(u1 ?? []), ...(u2 ?? [])].sort()).toEqual(jobs);
    expect(u1?.length).toBeGreaterThan(0);
    expect(u2?.length).toBeGreaterThan(0);
  });

  it("after a member unsubscribes, the other gets every message", async ({ expect }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const share = `$share/w/${u}/jobs/#`;
    const a = await connectAs(app, "u1", { ...v5, clientId: "a" });
    const b = await connectAs(app, "u1", { ...v5, clientId: "b" });
    for (const c of [a, b]) await subscribeCodes(c, [share, `${u}/done`], { qos: 1 });
    await a.unsubscribeAsync(share);
    const seen = [a, b].map((c) => jobsUntilSentinel(c, `${u}/done`));
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    for (const j of jobs) await pub.publishAsync(`${u}/jobs/x`, j, { qos: 0 });
    await pub.publishAsync(`${u}/done`, "sentinel", { qos: 1 });
    const [gotA, gotB] = await Promise.all(seen);
    expect(gotA).toEqual([]);
    expect(gotB).toEqual(jobs);
  });

  it("a shared filter outside the ACL is refused (0x87), and No Local on one is a protocol error (0x82)", async ({
    expect,
  }) => {
    const app = await createApp();
    const c = await connectAs(app, "u1", { ...v5, clientId: "c" });
    expect(await subscribeCodes(c, `$share/x/${app.name}/user/u2/#`, { qos: 1 })).toEqual([0x87]);
    expect(await subscribeCodes(c, `$share/x/${app.name}/group/nope/#`, { qos: 1 })).toEqual([0x87]);
    const raw = await RawClient.open(await mqttToken(app, "u1"), 5);
    await raw.connect({ clientId: "r" });
    raw.send({
      cmd: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: `$share/x/${app.name}/user/u1/#`, qos: 1, nl: true }],
    });
    expect(await raw.next("disconnect")).toMatchObject({ reasonCode: 0x82 });
  });

  it("no retained message is sent for a shared subscription", async ({ expect }) => {
    const app = await createApp();
    const u = `${app.name}/user/u1`;
    const pub = await connectAs(app, "u1", { ...v5, clientId: "pub" });
    await pub.publishAsync(`${u}/jobs/kept`, "retained", { qos: 1, retain: true });
    const c = await connectAs(app, "u1", { ...v5, clientId: "c" });
    const first = nextMessage(c);
    await subscribeCodes(c, [`$share/w/${u}/jobs/#`, `${u}/done`], { qos: 1 });
    await pub.publishAsync(`${u}/done`, "sentinel", { qos: 1 });
    expect((await first).payload).toBe("sentinel");
  });
});
