import { describe, expect, it } from "vitest";
import { embedMsgId, msgIdFor, msgIdOn, stampFor, taskIdOf } from "../../src/push/msg-id";
import { ownReceiptsByTask, parseReceipts } from "../../src/push/receipts";
import { afterReceipt, whyOf } from "../../src/push/truth";

// The pure core of CONTRACT §2 "Delivery truth": msg ids, stamping, receipts, state rules, why.

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe("msg_id", () => {
  it("is <task id>.<16 hex>, one per recipient, and names its task", () => {
    const u = msgIdFor("u1abc", { userId: "10086" });
    expect(u).toMatch(/^u1abc\.[0-9a-f]{16}$/);
    expect(msgIdFor("u1abc", { userId: "10086" })).toBe(u);
    expect(msgIdFor("u1abc", { userId: "10087" })).not.toBe(u);
    expect(msgIdFor("u1abd", { userId: "10086" })).not.toBe(u);
    // a device token that equals a user id is another recipient
    expect(msgIdFor("u1abc", { token: "10086" })).not.toBe(u);
    expect(taskIdOf(u)).toBe("u1abc");
    for (const bad of ["u1abc", "u1abc.123", "a/b.0000000000000000", `u1abc.${"0".repeat(16)}x`])
      expect(taskIdOf(bad)).toBeNull();
  });

  it("embeds into JSON-object bodies only", () => {
    expect(JSON.parse(dec(embedMsgId(enc({ a: 1 }), "t.x")))).toEqual({ a: 1, msg_id: "t.x" });
    for (const body of ["cache=2", "[1,2]", "42", '"text"', "{broken"])
      expect(dec(embedMsgId(enc(body), "t.x"))).toBe(body);
  });

  it("stamps a push per recipient (user property, embed when asked) and leaves other messages alone", () => {
    const push = { payload: enc({ a: 1 }), props: {}, push: { taskId: "t1", embed: false } };
    const id = msgIdFor("t1", { userId: "u1" });
    const stamped = stampFor(push, "u1");
    expect(stamped.push).toBeUndefined();
    expect(msgIdOn(stamped)).toBe(id);
    expect(dec(stamped.payload)).toBe('{"a":1}');
    const embedded = stampFor({ ...push, push: { taskId: "t1", embed: true } }, "u1");
    expect(JSON.parse(dec(embedded.payload))).toEqual({ a: 1, msg_id: id });
    const plain = {
      payload: enc("x"),
      props: { userProperties: [["msg_id", "forged"]] as [string, string][] },
    };
    expect(stampFor(plain, "u1")).toBe(plain);
  });
});

describe("receipts", () => {
  it("parses {receipts: [{msg_id, state}]} and nothing else", () => {
    expect(parseReceipts(enc({ receipts: [{ msg_id: "t.x", state: "opened" }] }))).toEqual([
      { msgId: "t.x", state: "opened" },
    ]);
    for (const bad of [{}, { receipts: [] }, { receipts: [{ msg_id: "t.x", state: "read" }] }, "nope"])
      expect(parseReceipts(enc(bad))).toBeNull();
  });

  it("keeps a user's own msg_ids only, grouped by task", () => {
    const mine = msgIdFor("t1", { userId: "u1" });
    const theirs = msgIdFor("t1", { userId: "u2" });
    const other = msgIdFor("t2", { userId: "u1" });
    const got = ownReceiptsByTask(
      [
        { msgId: mine, state: "received" },
        { msgId: theirs, state: "opened" },
        { msgId: other, state: "opened" },
        { msgId: "junk", state: "opened" },
      ],
      "u1",
    );
    expect([...got]).toEqual([
      ["t1", [{ msgId: mine, state: "received" }]],
      ["t2", [{ msgId: other, state: "opened" }]],
    ]);
  });

  it("only move a target up: received < dismissed < opened; never out of an end state", () => {
    expect(afterReceipt("pending", "received")).toBe("received");
    expect(afterReceipt("sending", "opened")).toBe("opened");
    expect(afterReceipt("sent", "dismissed")).toBe("dismissed");
    expect(afterReceipt("dismissed", "opened")).toBe("opened");
    expect(afterReceipt("opened", "received")).toBeNull();
    expect(afterReceipt("opened", "dismissed")).toBeNull();
    expect(afterReceipt("received", "received")).toBeNull();
    for (const end of ["failed", "cancelled", "expired"] as const)
      expect(afterReceipt(end, "opened")).toBeNull();
  });
});

describe("why", () => {
  const t = (over: Partial<Parameters<typeof whyOf>[0]>) =>
    whyOf({ channel: "apns", state: "sent", reason: null, reached: 0, ...over });
  it("is null once received or opened, one sentence otherwise", () => {
    expect(t({ state: "received" })).toBeNull();
    expect(t({ state: "opened" })).toBeNull();
    expect(t({ state: "failed", reason: "BadDeviceToken", removedAt: Date.UTC(2026, 11, 2, 1, 2, 3) })).toBe(
      "APNs: BadDeviceToken, device unregistered at 2026-12-02T01:02:03.000Z",
    );
    expect(t({ state: "failed", reason: "UNREGISTERED", channel: "fcm" })).toBe("FCM: UNREGISTERED");
    expect(t({ state: "expired", channel: "mqtt" })).toBe("expired before the device came online");
    expect(t({ state: "cancelled" })).toBe("cancelled by the partner before it was sent");
    expect(t({ state: "sent", channel: "mqtt", reached: 0 })).toContain("offline session");
    expect(t({ state: "sent", channel: "mqtt", reached: 2 })).toContain("live connection");
    expect(t({ state: "sending" })).toBe("waiting to be sent to APNs");
    expect(t({ state: "failed", reason: "NO_CREDENTIALS", channel: "getui" })).toBe(
      "the app has no Getui credentials",
    );
  });
});
