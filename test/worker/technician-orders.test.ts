import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { taskHub } from "../../src/hubs/task-hub";
import { randomHex } from "../../src/lib/crypto";
import { admin, callJson } from "../helpers/api";
import { PUBLIC_FIELDS } from "../helpers/seed-fields";
import { registerTechnician, T, type Tech } from "../helpers/technicians";

// Seed 000's flows, end to end through the push pipeline: the pushes are checked field by field
// as the Getui stand-in received them (transmission payload) and on their MQTT topics.

const ORDER_FIELDS = [
  "id",
  "orderNum",
  "orderType",
  "photo",
  "orderTime",
  "addTime",
  "creatorType",
  "creatorId",
  "creatorName",
  "contactPhone",
  "positionLon",
  "positionLat",
  "remark",
  "mainTechId",
  "secondTechId",
  "status",
];

const getui = { app_id: `tech${randomHex(6)}`, app_key: randomHex(10), master_secret: randomHex(10) };

beforeAll(async () => {
  await fetch(`${env.STAND_IN_URL}/getui/_apps`, { method: "POST", body: JSON.stringify(getui) });
  const { body } = await admin("/apps");
  const technicianApp = (body as unknown as { name: string; appkey: string }[]).find(
    (a) => a.name === "technician",
  );
  const put = await admin(`/apps/${technicianApp?.appkey}/credentials/getui`, { method: "PUT", json: getui });
  expect(put.status).toBe(200);
});

/** A VERIFIED technician with a name and a Getui push id. */
const verifiedTechnician = async (name: string): Promise<Tech & { cid: string }> => {
  const t = await registerTechnician();
  const cid = randomHex(16);
  await callJson(`${T}/me`, { method: "PUT", token: t.token, json: { name } });
  expect((await callJson(`${T}/pushId`, { token: t.token, json: { pushId: cid } })).body.status).toBe(true);
  expect((await admin(`/technicians/${t.id}/certification`, { json: { approved: true } })).status).toBe(200);
  return { ...t, cid };
};

/** Every payload the Getui stand-in received for a cid with a given action, once it arrives. */
const pushesTo = async (cid: string, action: string, wantAtLeast = 1) => {
  for (let i = 0; i < 100; i++) {
    const list = (await (await fetch(`${env.STAND_IN_URL}/getui/_received?cid=${cid}`)).json()) as {
      body: string;
    }[];
    const payloads = list
      .map((r) => JSON.parse(JSON.parse(r.body).push_message.transmission ?? "{}") as Record<string, unknown>)
      .filter((p) => p.action === action)
      .map(({ msg_id, ...seedFields }) => {
        // Every provider push carries its msg_id (CONTRACT §2 "Delivery truth"); the rest is seed 000's.
        expect(msg_id).toMatch(/^[A-Za-z0-9]+\.[0-9a-f]{16}$/);
        return seedFields;
      });
    if (payloads.length >= wantAtLeast) return payloads;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${action} reached ${cid}`);
};

/** The MQTT targets (per-target records in each task's TaskHub) of technician pushes of `action` to the technician. */
const mqttTopics = async (technicianId: number, action: string) => {
  const { results } = await env.DB.prepare(
    "SELECT t.id FROM tasks t JOIN apps a ON a.id = t.app_id WHERE a.name = 'technician' AND json_extract(t.request, '$.pushType') = ?",
  )
    .bind(action)
    .all<{ id: string }>();
  const hits: unknown[] = [];
  for (const r of results) {
    const { targets } = await taskHub(env, r.id).targets(null, 0, 500);
    hits.push(...targets.filter((t) => t.channel === "mqtt" && t.user_id === String(technicianId)));
  }
  return hits;
};

describe("certification (seed 000 §1, CONTRACT §4)", () => {
  it("pushes CERTIFICATION_PASSED with the technician object and stamps verifyAt", async () => {
    const t = await verifiedTechnician("王五");
    const [push] = await pushesTo(t.cid, "CERTIFICATION_PASSED");
    expect(push?.title).toBe("你的认证已通过");
    expect(Object.keys(push?.technician as object)).toEqual(PUBLIC_FIELDS);
    expect(push?.technician).toMatchObject({
      id: t.id,
      name: "王五",
      statusCode: "VERIFIED",
      idNo: null,
      bank: null,
    });
    expect(push).toHaveProperty("verifyMsg", null);
    expect(await mqttTopics(t.id, "CERTIFICATION_PASSED")).toHaveLength(1);
    const row = await env.DB.prepare("SELECT status, verify_at FROM technicians WHERE id = ?")
      .bind(t.id)
      .first();
    expect(row?.status).toBe("VERIFIED");
    expect(row?.verify_at).toBeGreaterThan(0);
  });

  it("pushes CERTIFICATION_REJECTED with the message", async () => {
    const t = await registerTechnician();
    const cid = randomHex(16);
    await callJson(`${T}/pushId`, { token: t.token, json: { pushId: cid } });
    await admin(`/technicians/${t.id}/certification`, {
      json: { approved: false, message: "身份证照片不清晰" },
    });
    const [push] = await pushesTo(cid, "CERTIFICATION_REJECTED");
    expect(push).toMatchObject({
      title: "你的认证未通过",
      verifyMsg: "身份证照片不清晰",
      technician: { statusCode: "REJECTED" },
    });
  });

  it("answers 404 for an unknown technician and 400 for a bad body", async () => {
    expect((await admin("/technicians/999999/certification", { json: { approved: true } })).status).toBe(404);
    expect((await admin("/technicians/1/certification", { json: { approved: "yes" } })).status).toBe(400);
  });
});

describe("orders, taking and partners (seed 000 §2–3)", () => {
  it("goes through a whole order: NEW_ORDER, take, invite, accept", async () => {
    const a = await verifiedTechnician("张三");
    const b = await verifiedTechnician("李四");
    const created = await admin("/orders", {
      json: { orderType: 0, contactPhone: "18827075330", remark: "贴膜" },
    });
    expect(created.status).toBe(201);
    const order = created.body.order as Record<string, unknown>;
    expect(Object.keys(order)).toEqual(ORDER_FIELDS);
    expect(order).toMatchObject({ status: "NEWLY_CREATED", mainTechId: 0, secondTechId: 0, creatorType: 0 });
    expect(String(order.orderNum)).toMatch(/^\d{14}[A-Z0-9]{6}$/);

    const [newOrder] = await pushesTo(a.cid, "NEW_ORDER");
    expect(newOrder).toEqual({ action: "NEW_ORDER", order, title: "你收到新订单推送消息" });
    expect(await pushesTo(b.cid, "NEW_ORDER")).toHaveLength(1);
    expect(await mqttTopics(b.id, "NEW_ORDER")).toHaveLength(1);

    const open = await callJson(`${T}/orders?scope=open`, { token: a.token });
    expect((open.body.message as { list: { id: number }[] }).list.map((o) => o.id)).toContain(order.id);

    const took = await callJson(`${T}/orders/${order.id}/take`, { token: a.token, method: "POST" });
    expect(took.body).toMatchObject({ status: true, message: { id: order.id, mainTechId: a.id } });
    expect((await callJson(`${T}/orders/${order.id}/take`, { token: b.token, method: "POST" })).body).toEqual(
      {
        status: false,
        message: "订单已被其他技师接单",
      },
    );
    const openAfter = await callJson(`${T}/orders?scope=open&pageSize=100`, { token: b.token });
    expect((openAfter.body.message as { list: { id: number }[] }).list.map((o) => o.id)).not.toContain(
      order.id,
    );

    const invited = await callJson(`${T}/orders/${order.id}/invitations`, {
      token: a.token,
      json: { partnerId: b.id },
    });
    expect(invited.body).toMatchObject({
      status: true,
      message: { orderId: order.id, ownerId: a.id, partnerId: b.id, status: "PENDING" },
    });
    const [invite] = await pushesTo(b.cid, "INVITE_PARTNER");
    expect(invite?.title).toBe("张三向你发起订单合作邀请");
    expect(Object.keys(invite ?? {})).toEqual(["action", "title", "order", "owner", "partner"]);
    expect(Object.keys(invite?.owner as object)).toEqual(PUBLIC_FIELDS);
    expect(invite).toMatchObject({
      order: { id: order.id, mainTechId: a.id },
      owner: { id: a.id, name: "张三" },
      partner: { id: b.id, name: "李四" },
    });

    const invitationId = (invited.body.message as { id: number }).id;
    const accepted = await callJson(`${T}/invitations/${invitationId}/accept`, {
      token: b.token,
      method: "POST",
    });
    expect(accepted.body).toMatchObject({
      status: true,
      message: { status: "ACCEPTED", order: { secondTechId: b.id } },
    });
    const [answer] = await pushesTo(a.cid, "INVITATION_ACCEPTED");
    expect(answer).toMatchObject({
      title: "李四已接受你的邀请",
      order: { secondTechId: b.id },
      partner: { id: b.id },
    });
    expect(
      (await callJson(`${T}/invitations/${invitationId}/reject`, { token: b.token, method: "POST" })).body,
    ).toEqual({
      status: false,
      message: "邀请已处理",
    });
    const mine = await callJson(`${T}/orders?scope=mine`, { token: b.token });
    expect((mine.body.message as { list: { id: number }[] }).list.map((o) => o.id)).toContain(order.id);
  }, 30_000);

  it("pushes INVITATION_REJECTED and leaves the order without a partner", async () => {
    const a = await verifiedTechnician("赵六");
    const b = await verifiedTechnician("钱七");
    const { body } = await admin("/orders", { json: { orderType: 1 } });
    const orderId = (body.order as { id: number }).id;
    await callJson(`${T}/orders/${orderId}/take`, { token: a.token, method: "POST" });
    const invited = await callJson(`${T}/orders/${orderId}/invitations`, {
      token: a.token,
      form: { partnerId: String(b.id) },
    });
    const id = (invited.body.message as { id: number }).id;
    expect(
      (await callJson(`${T}/invitations/${id}/reject`, { token: b.token, method: "POST" })).body.status,
    ).toBe(true);
    const [answer] = await pushesTo(a.cid, "INVITATION_REJECTED");
    expect(answer?.title).toBe("钱七已拒绝你的邀请");
    const row = await env.DB.prepare("SELECT second_tech_id FROM orders WHERE id = ?").bind(orderId).first();
    expect(row).toEqual({ second_tech_id: 0 });
  }, 30_000);

  it("refuses what seed 000's flows do not allow, each with a clear message", async () => {
    const a = await verifiedTechnician("孙八");
    const b = await verifiedTechnician("周九");
    const unverified = await registerTechnician();
    const { body } = await admin("/orders", { json: { orderType: 0 } });
    const orderId = (body.order as { id: number }).id;
    const post = (t: Tech, path: string, json?: unknown) =>
      callJson(`${T}${path}`, { token: t.token, method: "POST", json });

    expect((await post(unverified, `/orders/${orderId}/take`)).body).toEqual({
      status: false,
      message: "只有已认证的技师可以接单",
    });
    expect((await post(a, "/orders/999999/take")).body).toEqual({ status: false, message: "订单不存在" });
    await post(a, `/orders/${orderId}/take`);
    expect((await post(b, `/orders/${orderId}/invitations`, { partnerId: a.id })).body.message).toBe(
      "只有订单的主技师可以邀请合作技师",
    );
    expect((await post(a, `/orders/${orderId}/invitations`, { partnerId: a.id })).body.message).toBe(
      "不能邀请自己",
    );
    expect((await post(a, `/orders/${orderId}/invitations`, { partnerId: unverified.id })).body.message).toBe(
      "合作技师未通过认证",
    );
    expect((await post(a, `/orders/${orderId}/invitations`, {})).body.message).toBe("partnerId不能为空");
    const inv = await post(a, `/orders/${orderId}/invitations`, { partnerId: b.id });
    expect((await post(a, `/orders/${orderId}/invitations`, { partnerId: b.id })).body.message).toBe(
      "已邀请该技师,请等待回复",
    );
    const invId = (inv.body.message as { id: number }).id;
    expect((await post(a, `/invitations/${invId}/accept`)).body).toEqual({
      status: false,
      message: "邀请不存在",
    });
    expect((await callJson(`${T}/orders?scope=all`, { token: a.token })).body).toEqual({
      status: false,
      message: "scope格式错误",
    });
    expect((await callJson(`${T}/orders`, {})).status).toBe(401);
  }, 30_000);
});
