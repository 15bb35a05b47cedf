import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { groupHub, userHub } from "../../src/hubs/common";
import { createApp, pspSigned, type TestApp } from "../helpers/psp";

// A hub RPC call that fails must never be counted as sent: its targets retry through the queue,
// then end as failed with a reason, and a route answers an error.
//
// How a hub call is made to fail: the hubs carry a fault hook (src/hubs/faults.ts) that is on
// only when the Worker runs with TEST_HOOKS=1, which vitest.config.ts alone sets. A test arms a
// real hub, in the real runtime, to throw on its next N calls of one RPC method; everything
// between the route and the hub (queue, consumer, D1, RPC) runs for real, and none of our own
// modules is mocked. No input makes a healthy hub throw on purpose, which is why a hook it is.

type Json = { ret: string; data: Record<string, unknown> };
const psp = async (app: TestApp, method: string, path: string, body?: unknown) => {
  const res = await pspSigned(app, method, path, body === undefined ? "" : JSON.stringify(body));
  return { status: res.status, body: (await res.json()) as Json };
};

const settled = async (app: TestApp, taskId: string) => {
  for (let i = 0; i < 300; i++) {
    const { body } = await psp(app, "GET", `/psp/push/status?task_id=${taskId}`);
    if (["done", "failed", "cancelled", "expired"].includes(String(body.data.status))) return body.data;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("task did not settle");
};

const silent = { display_type: "message", body: { custom: { push_type: "talk", content: "hi" } } };
type Trace = { state: string; why: string | null; events: { state: string; detail: string }[] };
const trace = async (app: TestApp, taskId: string, userId: string) =>
  (await psp(app, "GET", `/psp/push/trace?task_id=${taskId}&user_id=${userId}`)).body
    .data as unknown as Trace;
const user = (app: TestApp, id: string) => userHub(env, { app: app.name, id });

describe("failed hub calls", () => {
  it("a UserHub publish that fails twice is retried through the queue, then sent once", async () => {
    const app = await createApp();
    await user(app, "u1").injectFault("publish", 2);
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1",
      payload: silent,
    });
    const taskId = String(body.data.task_id);
    expect(await settled(app, taskId)).toMatchObject({
      status: "done",
      total: 1,
      sent: 1,
      failed: 0,
      by_channel: { mqtt: 1 },
      failures: [],
    });
    // The call at expansion failed, the first queued retry failed, the second went through.
    const t = await trace(app, taskId, "u1");
    expect(t.events.map((e) => e.state)).toEqual(["accepted", "routed", "retry", "retry", "sent"]);
    expect(t.events[2]?.detail).toContain("HUB_ERROR: injected fault in publish");
  });

  it("a UserHub that keeps failing: retried, then failed as HUB_UNAVAILABLE, never sent", async () => {
    const app = await createApp();
    await user(app, "u1").injectFault("publish", 1000);
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "customizedcast",
      alias: "u1",
      payload: silent,
    });
    expect(await settled(app, String(body.data.task_id))).toMatchObject({
      status: "failed",
      total: 1,
      sent: 0,
      failed: 1,
      by_channel: { mqtt: 0 },
      failures: [{ device_token: `${app.name}/user/u1/talk`, reason: "HUB_UNAVAILABLE" }],
    });
    // One retry event at expansion and one per queue attempt (1 + max_retries 5), then failed.
    const t = await trace(app, String(body.data.task_id), "u1");
    expect(t.events.map((e) => e.state)).toEqual(["accepted", "routed", ...Array(7).fill("retry"), "failed"]);
    expect(t).toMatchObject({
      state: "failed",
      why: "the MQTT broker could not take it; gave up after every retry",
    });
  }, 30_000);

  it("a GroupHub publish that fails once is retried, then sent", async () => {
    const app = await createApp();
    expect((await psp(app, "PUT", "/psp/groups/g1", { name: "g1" })).body.ret).toBe("SUCCESS");
    await groupHub(env, app.name, "g1").injectFault("publish", 1);
    const { body } = await psp(app, "POST", "/psp/push/msg", {
      type: "groupcast",
      group_id: "g1",
      payload: silent,
    });
    expect(await settled(app, String(body.data.task_id))).toMatchObject({
      status: "done",
      sent: 1,
      failed: 0,
      by_channel: { mqtt: 1 },
    });
  });

  it("POST /psp/groups/:id/members answers 500 / 4000 when a hub could not follow", async () => {
    const app = await createApp();
    await psp(app, "PUT", "/psp/groups/g1", { name: "g1" });
    await user(app, "u2").injectFault("setMembership", 1);
    const failed = await psp(app, "POST", "/psp/groups/g1/members", { add: ["u1", "u2"] });
    expect(failed.status).toBe(500);
    expect(failed.body).toEqual({ ret: "FAIL", data: { error_code: 4000, error_msg: "internal error" } });
    // D1 is the truth and the call is idempotent: the partner's retry succeeds.
    const again = await psp(app, "POST", "/psp/groups/g1/members", { add: ["u1", "u2"] });
    expect(again.body).toMatchObject({ ret: "SUCCESS", data: { members: 2 } });
  });
});
