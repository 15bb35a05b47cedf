import { describe, expect, it } from "vitest";
import { parsePushRequest, parseTime, payloadSize } from "../../src/push/request";
import { mqttBody, pushTypeOf, routeFor } from "../../src/push/route";

const dec = new TextDecoder();

describe("routeFor (CONTRACT §2)", () => {
  it.each([
    ["message", true, { mqtt: true, providers: false }],
    ["message", false, { mqtt: true, providers: true }],
    ["notification", true, { mqtt: true, providers: true }],
    ["notification", false, { mqtt: true, providers: true }],
  ] as const)("%s with foreground=%s", (displayType, foreground, route) => {
    expect(routeFor(displayType, foreground)).toEqual(route);
  });
});

describe("topic and body", () => {
  it("takes push_type from custom, as an object or as JSON text", () => {
    expect(pushTypeOf({ kind: "msg", custom: { push_type: "talk" } })).toBe("talk");
    expect(pushTypeOf({ kind: "msg", custom: '{"push_type":"watch_locate"}' })).toBe("watch_locate");
    expect(pushTypeOf({ kind: "msg", custom: "hello" })).toBe("msg");
    expect(pushTypeOf({ kind: "msg", custom: { push_type: "a/b" } })).toBe("msg");
    expect(pushTypeOf({ kind: "config", custom: "cache=2" })).toBe("config");
  });
  it("publishes custom for messages and the whole body for notifications", () => {
    const payload = { display_type: "notification", body: { title: "t", custom: { a: 1 } } };
    expect(dec.decode(mqttBody({ displayType: "notification", custom: { a: 1 }, payload }))).toBe(
      '{"title":"t","custom":{"a":1}}',
    );
    expect(dec.decode(mqttBody({ displayType: "message", custom: { push_type: "talk" }, payload }))).toBe(
      '{"push_type":"talk"}',
    );
    expect(dec.decode(mqttBody({ displayType: "message", custom: "raw text", payload }))).toBe("raw text");
  });
});

describe("parsePushRequest: CONTRACT §2's codes in order", () => {
  const now = Date.UTC(2026, 10, 23, 0, 0, 0);
  const msg = { display_type: "message", body: { custom: { push_type: "talk" } } };
  const code = (body: Record<string, unknown>, kind: "msg" | "config" = "msg") => {
    const r = parsePushRequest(body, kind, now);
    return "code" in r ? r.code : 0;
  };
  it.each([
    [{}, 1016],
    [{ type: "multicast" }, 2048],
    [{ type: "unicast" }, 1015],
    [{ type: "listcast", device_tokens: "" }, 1015],
    [{ type: "customizedcast" }, 2009],
    [{ type: "groupcast" }, 2016],
    [{ type: "listcast", device_tokens: Array.from({ length: 501 }, (_, i) => `t${i}`).join(",") }, 2015],
    [{ type: "broadcast" }, 1001],
    [{ type: "broadcast", payload: "x" }, 1001],
    [{ type: "broadcast", payload: { body: {} } }, 1004],
    [{ type: "broadcast", payload: { display_type: "toast", body: {} } }, 1019],
    [{ type: "broadcast", payload: { display_type: "notification", body: {} } }, 1009],
    [{ type: "broadcast", payload: { display_type: "message", body: { title: "x" } } }, 1003],
    [{ type: "broadcast", payload: msg, policy: { start_time: "2026-11-22 08:00:00" } }, 2002],
    [{ type: "broadcast", payload: msg, policy: { start_time: "2026-12-23T00:00:00Z" } }, 2002],
    [{ type: "broadcast", payload: msg, policy: { expire_time: "2026-11-22T00:00:00Z" } }, 2003],
    [{ type: "broadcast", payload: msg, policy: { expire_time: "2026-12-23T00:00:00Z" } }, 2003],
    [{ type: "broadcast", payload: { ...msg, production_mode: "yes" } }, 1001],
    [{ type: "groupcast", group_id: "a/b", payload: msg }, 1001],
    [{ type: "broadcast", payload: msg }, 0],
  ])("%j → %i", (body, expected) => {
    expect(code(body)).toBe(expected);
  });

  it("reads production_mode inside payload or at the top, as boolean or string", () => {
    const a = parsePushRequest(
      { type: "broadcast", payload: { ...msg, production_mode: "false" } },
      "msg",
      now,
    );
    const b = parsePushRequest({ type: "broadcast", production_mode: false, payload: msg }, "msg", now);
    expect("productionMode" in a && a.productionMode).toBe(false);
    expect("productionMode" in b && b.productionMode).toBe(false);
  });

  it("needs a config string for config pushes", () => {
    expect(code({ type: "broadcast", payload: { body: {} } }, "config")).toBe(1001);
    expect(code({ type: "broadcast", payload: { body: "cache=2&submit=10" } }, "config")).toBe(0);
  });

  it("reads Umeng times as UTC+8 and ISO 8601 with its zone", () => {
    expect(parseTime("2026-11-23 08:00:00")).toBe(now);
    expect(parseTime("2026-11-23T00:00:00Z")).toBe(now);
    expect(parseTime("2026-11-23T08:00:00+08:00")).toBe(now);
    expect(parseTime("2026-11-23")).toBeNull();
    expect(parseTime("tomorrow")).toBeNull();
  });

  it("measures payloads as compact UTF-8 JSON", () => {
    expect(payloadSize({ a: "中" })).toBe(11);
  });
});
