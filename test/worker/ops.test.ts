/**
 * Operation counters (src/lib/ops.ts, docs/cost.md). The worker pool runs with COUNT_OPS "0";
 * this file's first call reaches the Worker with COUNT_OPS "1", which turns counting on for
 * this file's isolate (each test file has its own), so a real push is counted end to end: the
 * Worker request, D1 rows, the queue message and its consumer, the TaskHub's requests and
 * SQLite rows. test/worker/ops-off.test.ts checks the off side.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { OpsSnapshot } from "../../src/lib/ops";
import { ADMIN, ORIGIN } from "../helpers/api";
import { mqttConnect } from "../helpers/mqtt-ws";
import { createApp } from "../helpers/psp";
import { device, providerApp, psp, settled, silent } from "../helpers/push";

const counting = { ...env, COUNT_OPS: "1" };
const ops = async (method: "GET" | "DELETE" = "GET") => {
  const req = new Request(`${ORIGIN}/api/admin/ops`, { method, headers: ADMIN });
  const res = await worker.fetch(req, counting, createExecutionContext());
  return { status: res.status, body: (await res.json()) as OpsSnapshot };
};

describe("operation counters (COUNT_OPS = 1)", () => {
  // The first entry point reached in the isolate decides: this one, with COUNT_OPS "1".
  beforeAll(() => ops("DELETE"));

  it("answers its counters to the admin only", async () => {
    const first = await ops();
    expect(first.status).toBe(200);
    expect(first.body.worker.fetch).toBe(0); // reading them is not counted (nothing else ran yet)
    const res = await worker.fetch(
      new Request(`${ORIGIN}/api/admin/ops`),
      counting,
      createExecutionContext(),
    );
    expect(res.status).toBe(401);
  });

  it("counts a push: Worker request, D1 rows, queue message and consumer, TaskHub requests and rows", async () => {
    const app = await providerApp();
    const token = await device(app, "apns");
    await ops("DELETE");
    const made = await psp(app, "POST", "/psp/push/msg", {
      type: "unicast",
      device_tokens: token,
      payload: silent,
    });
    expect(made.body.ret).toBe("SUCCESS");
    await settled(app, String(made.body.data.task_id));
    const { body } = await ops();

    expect(body.worker.fetch).toBeGreaterThanOrEqual(2); // the push and the status polls
    expect(body.worker.queue_invocations).toBeGreaterThanOrEqual(1);
    expect(body.worker.queue_messages).toBe(body.worker.queue_invocations); // max_batch_size 1
    expect(body.queues.sent.PUSH_QUEUE?.messages).toBeGreaterThanOrEqual(1);
    expect(body.queues.sent.PUSH_QUEUE?.ops).toBe(body.queues.sent.PUSH_QUEUE?.messages); // small messages
    expect(body.d1.metered).toBe(true);
    const d1 = body.d1.by_caller.Worker;
    expect(d1?.queries).toBeGreaterThan(0);
    expect(d1?.rows_read).toBeGreaterThan(0);
    expect(d1?.rows_written).toBeGreaterThan(0); // the task row
    const taskHub = body.durable_objects.classes.TaskHub;
    expect(taskHub?.stub_requests).toBeGreaterThan(0);
    expect(taskHub?.objects).toBe(1);
    expect(taskHub?.active_ms).toBeGreaterThanOrEqual(0);
    expect(body.sqlite.TaskHub?.statements).toBeGreaterThan(0);
    expect(body.sqlite.TaskHub?.rows_written).toBeGreaterThan(0); // the target's record
    expect(Object.keys(body.durable_objects.stub_requests).some((k) => k.startsWith("TASK_HUB."))).toBe(true);
  });

  it("counts an MQTT connection: the upgrade, the hub's WebSocket messages and its active time", async () => {
    const app = await createApp();
    const { body: minted } = await psp(app, "POST", "/psp/mqtt/token", { sub: "u1" });
    await ops("DELETE");
    const client = await mqttConnect(String(minted.data.token), 4, "phone");
    client.send({ type: "pingreq" });
    await client.next("pingresp");
    client.close();
    // The hub's metrics timer (2 s) and the close keep it active a little longer.
    await vi.waitFor(async () => {
      const hub = (await ops()).body.durable_objects.classes.UserHub;
      expect(hub?.websocket_messages).toBe(2); // CONNECT, PINGREQ
      expect(hub?.websocket_closes).toBe(1);
      expect(hub?.active_now).toBe(0);
    }, 8000);
    const { body } = await ops();
    expect(body.worker.fetch).toBe(1); // the upgrade
    expect(body.durable_objects.stub_requests["USER_HUB.fetch"]).toBe(1);
    expect(body.durable_objects.classes.UserHub?.active_ms).toBeGreaterThan(0);
    expect(body.sqlite.UserHub?.statements).toBeGreaterThan(0);
  }, 15_000);

  it("a CONNECT reads the identity's memberships from D1 by index, not every membership of the app", async () => {
    const app = await createApp();
    expect((await psp(app, "PUT", "/psp/groups/big", { name: "big" })).body.ret).toBe("SUCCESS");
    const members = Array.from({ length: 200 }, (_, i) => `m${i}`);
    expect((await psp(app, "POST", "/psp/groups/big/members", { add: members })).body.ret).toBe("SUCCESS");
    const { body: minted } = await psp(app, "POST", "/psp/mqtt/token", { sub: "m7" });
    await ops("DELETE");
    const client = await mqttConnect(String(minted.data.token), 4, "phone");
    client.close();
    const read = (await ops()).body.d1.by_caller.UserHub;
    expect(read?.queries).toBe(1);
    expect(read?.rows_read).toBeLessThan(5); // the app row and the one membership (was 200)
  });

  it("answers the counts on DELETE and starts again from zero", async () => {
    const app = await createApp();
    await ops("DELETE");
    const r = await psp(app, "GET", "/psp/push/status?task_id=nope");
    expect(r.status).toBe(404);
    const before = await ops("DELETE");
    expect(before.body.worker.fetch).toBe(1);
    expect(before.body.d1.by_caller.Worker?.queries).toBeGreaterThan(0); // the app and the task looked up
    const after = await ops();
    expect(after.body.worker.fetch).toBe(0);
    expect(after.body.d1.by_caller).toEqual({});
  });
});
