import { describe, expect, it } from "vitest";
import { channelOf, mayPublish, subscribeScope, topicMatches } from "../../../src/mqtt/topics";

const who = { app: "xunqun", id: "u1" };
const member = (g: string) => g === "fam" || g === "school";

describe("topicMatches [MQTT-4.7]", () => {
  it.each([
    ["a/b", "a/b", true],
    ["a/+", "a/b", true],
    ["a/+", "a/b/c", false],
    ["a/#", "a", true], // [MQTT-4.7.1-2] # also matches the parent level
    ["a/#", "a/b/c", true],
    ["#", "a/b", true],
    ["+/+", "/x", true],
    ["+", "$SYS", false], // [MQTT-4.7.2-1]
    ["#", "$SYS/x", false],
    ["a/b", "a/b/c", false],
    ["a/+/c", "a//c", true],
  ])("%s matches %s: %s", (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});

describe("channelOf", () => {
  it("reads seed 002's channels", () => {
    expect(channelOf("xunqun", "xunqun/user/u1/talk")).toEqual({ kind: "user", id: "u1", rest: ["talk"] });
    expect(channelOf("xunqun", "xunqun/group/fam/#")).toEqual({ kind: "group", id: "fam", rest: ["#"] });
    expect(channelOf("xunqun", "xunqun/app/status")).toEqual({ kind: "status" });
    expect(channelOf("xunqun", "xunqun/app/receipt")).toEqual({ kind: "other" });
    expect(channelOf("xunqun", "other/user/u1/talk")).toEqual({ kind: "other" });
  });
});

describe("subscribe ACL (CONTRACT §3)", () => {
  it.each([
    ["xunqun/user/u1/#", { user: true, groups: [] }],
    ["xunqun/user/u1/talk", { user: true, groups: [] }],
    ["xunqun/group/fam/#", { user: false, groups: ["fam"] }],
    ["xunqun/group/+/#", { user: false, groups: "all-mine" }],
  ])("grants %s", (filter, scope) => {
    expect(subscribeScope(who, filter, member)).toEqual(scope);
  });

  it.each([
    "xunqun/user/u2/#",
    "xunqun/user/+/#",
    "xunqun/group/other/#",
    "xunqun/group/#",
    "xunqun/#",
    "#",
    "+/user/u1/#",
    "xunqun/app/status",
    "police/user/u1/#",
  ])("refuses %s", (filter) => {
    expect(subscribeScope(who, filter, member)).toBeNull();
  });
});

describe("publish ACL (CONTRACT §3)", () => {
  it.each([
    ["xunqun/app/status", true],
    ["xunqun/user/u1/x", true],
    ["xunqun/user/u2/x", false],
    ["xunqun/group/fam/talk", true],
    ["xunqun/group/other/talk", false],
    ["xunqun/app/receipt", false],
    ["police/user/u1/x", false],
  ])("%s: %s", (topic, allowed) => {
    expect(mayPublish(who, topic, member)).toBe(allowed);
  });
});
