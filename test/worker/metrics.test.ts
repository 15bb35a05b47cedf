import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { FLUSH_MS, METRICS_SHARDS, MetricsBatch, metricsHub, metricsShard } from "../../src/hubs/metrics";
import { ADMIN, admin, call } from "../helpers/api";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";

// Issue 13 item 3: per-app counters that move after pushes, connects and MQTT messages, served
// as JSON and as Prometheus text at /api/admin/metrics.

type AppMetrics = {
  app: string;
  live_users: number;
  totals: {
    pushes_accepted: number;
    mqtt_in: number;
    mqtt_out: number;
    mqtt_connects: number;
    deliveries: Record<string, Record<string, number>>;
  };
  window: AppMetrics["totals"];
  per_minute: ({ minute: string } & AppMetrics["totals"])[];
};

const metricsOf = async (app: TestApp) => {
  const { status, body } = await admin(`/metrics?appkey=${app.appkey}&minutes=5`);
  expect(status).toBe(200);
  const apps = body.apps as AppMetrics[];
  expect(apps.map((a) => a.app)).toEqual([app.name]);
  return apps[0] as AppMetrics;
};

const psp = async (app: TestApp, method: string, path: string, body: unknown) =>
  (await (await pspSigned(app, method, path, JSON.stringify(body))).json()) as {
    data: Record<string, unknown>;
  };

/** Prometheus text: every line a comment or `name{labels} value`; answers the samples. */
const samples = (text: string) => {
  const out = new Map<string, number>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\}) (\d+)$/.exec(line);
    expect(m, line).not.toBeNull();
    if (m) out.set(`${m[1]}${m[2]}`, Number(m[3]));
  }
  return out;
};

describe("GET /api/admin/metrics", () => {
  it("counts connects, MQTT messages in and out, accepted pushes and their outcomes, per app", async () => {
    const app = await createApp();
    const other = await createApp();
    const token = String((await psp(app, "POST", "/psp/mqtt/token", { sub: "u1" })).data.token);
    const client = await mqttConnect(token, 5, "phone");
    client.send({
      type: "subscribe",
      messageId: 1,
      subscriptions: [{ topic: `${app.name}/user/u1/#`, qos: 0 }],
    });
    await client.next("suback");
    // One PUBLISH in, echoed back to the subscriber: one out.
    client.send({
      type: "publish",
      topic: `${app.name}/user/u1/talk`,
      payload: new TextEncoder().encode("hi"),
      qos: 0,
      retain: false,
      dup: false,
    });
    await client.next("publish");
    const push = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1",
      payload: { display_type: "message", body: { custom: { push_type: "talk", text: "x" } } },
    });
    expect(push.data.task_id).toEqual(expect.any(String));

    await vi.waitFor(
      async () => {
        const m = await metricsOf(app);
        expect(m.totals).toMatchObject({ pushes_accepted: 1, mqtt_in: 1, mqtt_out: 2, mqtt_connects: 1 });
        expect(m.totals.deliveries.mqtt?.sent).toBe(1);
      },
      { timeout: 15_000, interval: 250 },
    );
    const m = await metricsOf(app);
    expect(m.live_users).toBe(1);
    expect(m.window).toEqual(m.totals);
    expect(m.per_minute.reduce((n, row) => n + row.mqtt_out, 0)).toBe(2);
    expect(m.per_minute[0]?.minute).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z$/);

    // Nothing of it shows on the other app.
    const quiet = await metricsOf(other);
    expect(quiet.totals).toEqual({
      pushes_accepted: 0,
      mqtt_in: 0,
      mqtt_out: 0,
      mqtt_connects: 0,
      deliveries: {},
    });
    expect(quiet.live_users).toBe(0);

    // Prometheus text, by ?format= and by Accept.
    for (const res of [
      await call(`/api/admin/metrics?format=prometheus`, { headers: ADMIN }),
      await call(`/api/admin/metrics?appkey=${app.appkey}`, { headers: { ...ADMIN, accept: "text/plain" } }),
    ]) {
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toContain("# TYPE edge_push_pushes_accepted_total counter");
      expect(text).toContain("# TYPE edge_push_mqtt_live_users gauge");
      const s = samples(text);
      expect(s.get(`edge_push_pushes_accepted_total{app="${app.name}"}`)).toBe(1);
      expect(s.get(`edge_push_mqtt_messages_in_total{app="${app.name}"}`)).toBe(1);
      expect(s.get(`edge_push_mqtt_messages_out_total{app="${app.name}"}`)).toBe(2);
      expect(s.get(`edge_push_mqtt_connects_total{app="${app.name}"}`)).toBe(1);
      expect(s.get(`edge_push_deliveries_total{app="${app.name}",channel="mqtt",outcome="sent"}`)).toBe(1);
      expect(s.get(`edge_push_mqtt_live_users{app="${app.name}"}`)).toBe(1);
    }
    client.close();
  }, 30_000);

  it("refuses bad parameters and unknown apps, and needs the admin token", async () => {
    expect((await admin("/metrics?minutes=0")).body.error).toBe("invalid_parameter");
    expect((await admin("/metrics?minutes=1441")).status).toBe(400);
    expect((await admin("/metrics?format=xml")).status).toBe(400);
    expect((await admin("/metrics?appkey=nope")).status).toBe(404);
    expect((await call("/api/admin/metrics")).status).toBe(401);
  });

  it("adds up every shard: the counts of many objects, spread over the app's Metrics shards", async () => {
    const app = await createApp();
    const names = Array.from({ length: 40 }, (_, i) => `UserHub:${app.name}:u${i}`);
    const shards = new Set(names.map(metricsShard));
    expect(shards.size).toBeGreaterThan(1); // the 40 land in several shards
    for (const name of names) {
      const batch = new MetricsBatch(
        env,
        () => app.name,
        () => name,
      );
      batch.add("mqtt_in", 2);
      batch.add("deliveries", 1, "mqtt", "sent");
      await batch.flush();
    }
    const reads = await Promise.all(
      Array.from({ length: METRICS_SHARDS }, (_, i) => metricsHub(env, app.name, i).read(5)),
    );
    expect(reads.filter((r) => r.totals.length > 0).length).toBe(shards.size);
    const m = await metricsOf(app);
    expect(m.totals.mqtt_in).toBe(80);
    expect(m.totals.deliveries).toEqual({ mqtt: { sent: 40 } });
    expect(m.per_minute.reduce((n, row) => n + row.mqtt_in, 0)).toBe(80);
  });

  it("an object that keeps counting holds its batch; once quiet for FLUSH_MS it sends it", async () => {
    const app = await createApp();
    const batch = new MetricsBatch(
      env,
      () => app.name,
      () => "busy-hub",
    );
    const shard = metricsHub(env, app.name, metricsShard("busy-hub"));
    const sent = async () => (await shard.read(5)).totals.reduce((n, r) => n + r.n, 0);
    // Busy: a count every FLUSH_MS / 4 for 2.5 × FLUSH_MS; nothing is sent meanwhile.
    for (let i = 0; i < 10; i++) {
      batch.add("mqtt_out");
      await new Promise((r) => setTimeout(r, FLUSH_MS / 4));
    }
    expect(await sent()).toBe(0);
    // Quiet: sent FLUSH_MS after the last count.
    await vi.waitFor(async () => expect(await sent()).toBe(10), { timeout: 3 * FLUSH_MS, interval: 100 });
  }, 20_000);
});
