import { describe, expect, it } from "vitest";
import type { PublishPacket } from "../../../src/mqtt/codec/types";
import { OUT_ALIAS_BYTES, type OutAliases, withOutAlias } from "../../../src/mqtt/out-aliases";
import { keepalivePolicy, negotiateKeepalive, OPEN_POLICY } from "../../../src/mqtt/session/keepalive";
import { innerFilter, parseShared, ShareRotation, shareMatches } from "../../../src/mqtt/shared";

const publish = (topic: string): PublishPacket => ({
  type: "publish",
  topic,
  payload: new Uint8Array([1]),
  qos: 0,
  retain: false,
  dup: false,
});

describe("keepalive policy", () => {
  const settings = { watch: 300, phone: 120, min: 30, max: 600 };

  it("takes the device class's value, else `default`, within the floor and ceiling", () => {
    expect(keepalivePolicy(settings, "watch")).toEqual({ preferred: 300, min: 30, max: 600 });
    expect(keepalivePolicy(settings)).toEqual({ min: 30, max: 600 });
    expect(keepalivePolicy({ default: 90 }, "phone")).toEqual({ preferred: 90, min: 1, max: 65535 });
    expect(keepalivePolicy(null, "watch")).toBe(OPEN_POLICY);
  });

  it("MQTT 5: the preferred value clamped, sent as Server Keep Alive only when it differs", () => {
    const watch = keepalivePolicy(settings, "watch");
    expect(negotiateKeepalive(watch, 60, 5)).toEqual({ keepalive: 300, serverKeepAlive: 300 });
    expect(negotiateKeepalive(watch, 300, 5)).toEqual({ keepalive: 300 });
    const none = keepalivePolicy(settings);
    expect(negotiateKeepalive(none, 5, 5)).toEqual({ keepalive: 30, serverKeepAlive: 30 });
    expect(negotiateKeepalive(none, 5000, 5)).toEqual({ keepalive: 600, serverKeepAlive: 600 });
    expect(negotiateKeepalive(none, 45, 5)).toEqual({ keepalive: 45 });
    expect(negotiateKeepalive(watch, 0, 5)).toEqual({ keepalive: 0 });
  });

  it("MQTT 3.1.1: the client's value raised to the floor; class value and ceiling do not apply", () => {
    const watch = keepalivePolicy(settings, "watch");
    expect(negotiateKeepalive(watch, 5, 4)).toEqual({ keepalive: 30 });
    expect(negotiateKeepalive(watch, 5000, 4)).toEqual({ keepalive: 5000 });
    expect(negotiateKeepalive(watch, 0, 4)).toEqual({ keepalive: 0 });
  });
});

describe("outbound topic aliases", () => {
  /** Sends `topics` in order; answers what went on the wire (topic, alias) and the final map. */
  const run = (max: number, topics: string[], start?: OutAliases) => {
    let state = start;
    const wire = topics.map((t) => {
      const r = withOutAlias(publish(t), max, state);
      state = r.state;
      return [r.packet.topic, r.packet.properties?.topicAlias];
    });
    return { wire, state };
  };

  it("alias and topic first, alias alone after, full topics past the maximum", () => {
    expect(run(2, ["a", "a", "b", "c", "b", "a", "c"]).wire).toEqual([
      ["a", 1],
      ["", 1],
      ["b", 2],
      ["c", undefined],
      ["", 2],
      ["", 1],
      ["c", undefined],
    ]);
  });

  it("nothing when the client allows no alias", () => {
    expect(run(0, ["a", "a"])).toEqual({
      wire: [
        ["a", undefined],
        ["a", undefined],
      ],
      state: undefined,
    });
  });

  it("never re-binds an alias: an older copy of the map only lacks entries", () => {
    const older = run(3, ["a"]).state;
    const newer = run(3, ["b"], older).state;
    expect(newer?.map).toEqual({ a: 1, b: 2 });
    // Starting again from the older copy, "b" gets a fresh binding sent in full (alias 2 + topic).
    expect(run(3, ["b", "b"], older).wire).toEqual([
      ["b", 2],
      ["", 2],
    ]);
  });

  it("keeps the map small enough for a WebSocket attachment", () => {
    const long = "x".repeat(300);
    expect(run(5, [long, long]).wire).toEqual([
      [long, undefined],
      [long, undefined],
    ]);
    const topics = Array.from({ length: 10 }, (_, i) => `${String(i)}${"y".repeat(200)}`);
    const { state } = run(10, topics);
    expect(state?.bytes).toBeLessThanOrEqual(OUT_ALIAS_BYTES);
    expect(Object.keys(state?.map ?? {})).toHaveLength(5);
  });
});

describe("shared subscriptions", () => {
  it("parses $share/<name>/<filter>", () => {
    expect(parseShared("$share/g/a/b/#")).toEqual({ name: "g", filter: "a/b/#" });
    expect(parseShared("a/b")).toBeNull();
    expect(innerFilter("$share/g/a/+")).toBe("a/+");
    expect(innerFilter("a/+")).toBe("a/+");
    expect(shareMatches("$share/g/a/+", "a/x")).toBe(true);
    expect(shareMatches("$share/g/a/+", "a/x/y")).toBe(false);
  });

  it("takes members in turn, per share group", () => {
    const r = new ShareRotation();
    expect([1, 2, 3, 4].map(() => r.pick("k", ["a", "b"]))).toEqual(["a", "b", "a", "b"]);
    expect(r.pick("other", ["c", "d"])).toBe("c");
    expect(r.pick("k", [])).toBeNull();
  });
});
