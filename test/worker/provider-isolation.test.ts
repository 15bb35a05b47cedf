import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { taskHub } from "../../src/hubs/task-hub";
import { randomHex } from "../../src/lib/crypto";
import { admin } from "../helpers/api";
import { ecKeyPair } from "../helpers/keys";
import { createApp, type TestApp } from "../helpers/psp";
import { device, notification, psp, settled, silent, standIn, standInJson } from "../helpers/push";

// Issue 14 §4: a provider that hangs or fails for one app slows no other app's pushes, and a
// batch that is cut off or loses an answer neither drops a push nor shows it twice. Everything
// runs through the Worker's HTTP entry point and the queue consumer the runtime runs; the
// stand-ins hang or answer late through test/stand-ins/faults.ts. PROVIDER_TIMEOUT_MS is 2 s
// here, so the claim lifetime is 6 s, the batch deadline 12 s and the breaker pauses 2–12 s.

const T = Number(env.PROVIDER_TIMEOUT_MS);
type Rule = { path: string; header?: [string, string] };
const rules: Rule[] = [];
const fault = async (rule: Rule & { mode: "hang" | "late"; ms?: number; count?: number }) => {
  rules.push({ path: rule.path, header: rule.header });
  expect((await standIn("/_faults", rule)).status).toBe(204);
};
const clear = async (rule: Rule) => {
  await standIn("/_faults/clear", rule);
};
afterEach(async () => {
  for (const r of rules.splice(0)) await clear(r);
});

const apnsPath = "/apns/3/device/";
type Attempt = { headers: Record<string, string>; status: number };
const received = (token: string) => standInJson<Attempt[]>(`/apns/_received?token=${token}`);

/** An app with APNs credentials on its own topic (the stand-in's faults can pick it by `apns-topic`). */
const apnsApp = async () => {
  const app = await createApp();
  const { privatePem: private_key, publicPem } = await ecKeyPair();
  const [key_id, team_id] = [randomHex(5).toUpperCase(), randomHex(5).toUpperCase()];
  const topic = `com.example.${randomHex(4)}`;
  await standIn("/apns/_keys", { key_id, team_id, topics: [topic], public_key_pem: publicPem });
  const put = await admin(`/apps/${app.appkey}/credentials/apns`, {
    method: "PUT",
    json: { team_id, key_id, private_key, topic, environment: "production" },
  });
  expect(put.status).toBe(200);
  return { app, topic, header: ["apns-topic", topic] as [string, string] };
};

const getuiApp = async () => {
  const app = await createApp();
  const creds = { app_id: `gt${randomHex(6)}`, app_key: randomHex(8), master_secret: randomHex(8) };
  await standIn("/getui/_apps", creds);
  const put = await admin(`/apps/${app.appkey}/credentials/getui`, { method: "PUT", json: creds });
  expect(put.status).toBe(200);
  return { app, appId: creds.app_id };
};

const devices = async (app: TestApp, n: number) => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await device(app, "apns"));
  return out;
};

const push = async (app: TestApp, body: Record<string, unknown>) => {
  const r = await psp(app, "POST", "/psp/push/msg", body);
  expect(r.body.ret).toBe("SUCCESS");
  return String(r.body.data.task_id);
};
const unicast = (app: TestApp, token: string) =>
  push(app, { type: "unicast", device_tokens: token, payload: notification });
/** A listcast that starts in 3 s, so a test can arm its TaskHub before the batch runs. */
const listcastSoon = (app: TestApp, tokens: string[]) =>
  push(app, {
    type: "listcast",
    device_tokens: tokens.join(","),
    payload: notification,
    policy: { start_time: new Date(Date.now() + 3000).toISOString() },
  });

const status = async (app: TestApp, taskId: string) =>
  (await psp(app, "GET", `/psp/push/status?task_id=${taskId}`)).body.data;
const trace = async (app: TestApp, taskId: string, token: string) =>
  (await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&device_token=${token}`)).body.data as {
    msg_id: string;
    events: { state: string; detail: string }[];
  };
const timedSettle = async (app: TestApp, taskId: string, since: number) => {
  const data = await settled(app, taskId);
  return { data, ms: Date.now() - since };
};

describe("provider isolation", () => {
  it("app A's APNs hangs: app B's APNs and MQTT-only pushes finish within a bound; A's finish once APNs answers", async () => {
    const a = await apnsApp();
    const b = await apnsApp();
    const aTokens = await devices(a.app, 10);
    const bToken = await device(b.app, "apns");
    await fault({ path: apnsPath, header: a.header, mode: "hang" });

    // Ten tasks of A (one batch each) are queued ahead of B's.
    const aTasks: string[] = [];
    for (const t of aTokens) aTasks.push(await unicast(a.app, t));
    const bStart = Date.now();
    const bApns = await unicast(b.app, bToken);
    const bMqtt = await push(b.app, { type: "customizedcast", alias: "b-user", payload: silent });
    const [apnsDone, mqttDone] = await Promise.all([
      timedSettle(b.app, bApns, bStart),
      timedSettle(b.app, bMqtt, bStart),
    ]);
    expect(apnsDone.data).toMatchObject({ status: "done", sent: 1, by_channel: { apns: 1 } });
    expect(mqttDone.data).toMatchObject({ status: "done", sent: 1, by_channel: { mqtt: 1 } });
    // One timeout per A batch, one after another, holds B's APNs batch 10 × T and more (28 s
    // measured with the breaker switched off); with it, A costs the consumer one T per pause.
    expect(apnsDone.ms).toBeLessThan(7.5 * T);
    expect(mqttDone.ms).toBeLessThan(7.5 * T);
    const aWaiting = await Promise.all(aTasks.map((id) => status(a.app, id)));
    expect(aWaiting.filter((s) => s.status === "done")).toEqual([]);

    await clear({ path: apnsPath, header: a.header });
    const recovered = Date.now();
    const aDone = await Promise.all(aTasks.map((id) => timedSettle(a.app, id, recovered)));
    for (const d of aDone) expect(d.data).toMatchObject({ status: "done", sent: 1, failed: 0 });
    // The breaker's longest pause here is 6 T; then every A batch goes out at once.
    const aMs = Math.max(...aDone.map((d) => d.ms));
    expect(aMs).toBeLessThan(10 * T);
    for (const t of aTokens) expect(await received(t)).toHaveLength(1);
    const t = await trace(a.app, aTasks[0] ?? "", aTokens[0] ?? "");
    expect(t.events.map((e) => e.detail)).toContainEqual(
      expect.stringContaining(`did not answer within ${T} ms`),
    );
    console.log(
      `isolation: B's APNs push done in ${apnsDone.ms} ms, B's MQTT-only push in ${mqttDone.ms} ms while A's APNs hung; ` +
        `A's 10 pushes done ${aMs} ms after APNs answered again (T = ${T} ms)`,
    );
  }, 90_000);

  it("a lost APNs answer: sent again under the same apns-id and collapse id, the trace says why", async () => {
    const a = await apnsApp();
    const token = await device(a.app, "apns");
    await fault({ path: `${apnsPath}${token}`, mode: "late", ms: T + 1500, count: 1 });
    const taskId = await unicast(a.app, token);
    expect(await settled(a.app, taskId)).toMatchObject({ status: "done", sent: 1, failed: 0 });
    const pushes = await received(token);
    expect(pushes).toHaveLength(2); // APNs took both: it has no idempotency key
    const [first, second] = pushes.map((p) => p.headers);
    const { msg_id, events } = await trace(a.app, taskId, token);
    expect(second?.["apns-id"]).toBe(first?.["apns-id"]);
    expect(first?.["apns-collapse-id"]).toBe(msg_id); // the device shows one notification
    expect(second?.["apns-collapse-id"]).toBe(msg_id);
    const id = first?.["apns-id"];
    expect(events.map((e) => e.detail)).toEqual(
      expect.arrayContaining([
        `APNs did not answer within ${T} ms (apns-id ${id}); retrying`,
        `APNs accepted it (apns-id ${id})`,
      ]),
    );
  }, 30_000);

  it("a lost Getui answer: the retry carries the same request_id, Getui drops the copy, one push", async () => {
    const { app, appId } = await getuiApp();
    const cid = await device(app, "getui");
    await fault({ path: `/getui/${appId}/push`, mode: "late", ms: T + 1500, count: 1 });
    const taskId = await unicast(app, cid);
    expect(await settled(app, taskId)).toMatchObject({ status: "done", sent: 1, failed: 0 });
    expect(await standInJson<unknown[]>(`/getui/_received?cid=${cid}`)).toHaveLength(1);
    const { events } = await trace(app, taskId, cid);
    expect(events.map((e) => e.detail)).toContainEqual(
      expect.stringMatching(/^Getui already had request [0-9a-f-]{36} from an attempt whose answer was lost/),
    );
  }, 30_000);
});

describe("a batch cut off mid-send", () => {
  it("the consumer fails between two rounds: the redelivered batch sends the rest, no device gets a push twice", async () => {
    const a = await apnsApp();
    const tokens = await devices(a.app, 14); // rounds of 6, 6 and 2
    const taskId = await listcastSoon(a.app, tokens);
    await taskHub(env, taskId).injectFault("claim", 1, 1); // the second round's claim throws
    expect(await settled(a.app, taskId)).toMatchObject({ status: "done", total: 14, sent: 14, failed: 0 });
    for (const t of tokens) expect(await received(t)).toHaveLength(1);
  }, 30_000);

  it("a round's answers cannot be recorded: its targets are sent again after the claim lifetime, same apns-ids", async () => {
    const a = await apnsApp();
    const tokens = await devices(a.app, 14);
    const taskId = await listcastSoon(a.app, tokens);
    // The consumer records each round's answers with two more tries; a third failure ends the run.
    await taskHub(env, taskId).injectFault("record", 3);
    expect(await settled(a.app, taskId)).toMatchObject({ status: "done", total: 14, sent: 14, failed: 0 });
    const pushes = await Promise.all(tokens.map(received));
    // The first round was taken by APNs but its answers were lost with the run: at least once.
    const twice = pushes.filter((p) => p.length === 2);
    expect(twice).toHaveLength(6);
    expect(pushes.filter((p) => p.length === 1)).toHaveLength(8);
    for (const [x, y] of twice) expect(y?.headers["apns-id"]).toBe(x?.headers["apns-id"]);
  }, 40_000);

  it("a batch that reaches its deadline records what it sent and queues the rest again", async () => {
    const a = await apnsApp();
    const tokens = await devices(a.app, 50); // one batch, 9 rounds of 1.5 s > the 12 s deadline
    await fault({ path: apnsPath, header: a.header, mode: "late", ms: 1500 });
    const start = Date.now();
    const taskId = await unicastList(a.app, tokens);
    expect(await settled(a.app, taskId)).toMatchObject({ status: "done", total: 50, sent: 50, failed: 0 });
    expect(Date.now() - start).toBeGreaterThan(6 * T);
    for (const t of tokens) expect(await received(t)).toHaveLength(1);
  }, 60_000);
});

const unicastList = (app: TestApp, tokens: string[]) =>
  push(app, { type: "listcast", device_tokens: tokens.join(","), payload: notification });
