import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ConnState, type Ctx, handlePacket, newConnState } from "../../../src/mqtt/session";
import { shareMatches } from "../../../src/mqtt/shared";
import {
  isValidTopicFilter,
  isValidTopicName,
  mayPublish,
  subscribeScope,
  topicMatches,
} from "../../../src/mqtt/topics";

// Topic matching and the ACL (CONTRACT §3) against naive reference implementations written
// straight from the rules, over topics and filters built from tricky levels: empty levels, "..",
// "$" levels, wildcards, other apps and users.

const LEVELS = [
  "a",
  "b",
  "",
  "..",
  ".",
  "$SYS",
  "$x",
  "user",
  "group",
  "app",
  "status",
  "xq",
  "u1",
  "u2",
  "g1",
  "g2",
];
const level = fc.constantFrom(...LEVELS);
const topicName = fc.array(level, { minLength: 1, maxLength: 6 }).map((l) => l.join("/"));
const topicFilter = fc
  .tuple(fc.array(fc.oneof(level, fc.constant("+")), { minLength: 0, maxLength: 5 }), fc.boolean())
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => [...levels, ...(hash ? ["#"] : [])].join("/"));

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** [MQTT-4.7] by regular expression: `+` one level, a trailing `#` the parent and everything below. */
function referenceMatch(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false; // [MQTT-4.7.2-1]
  const levels = filter.split("/");
  const hash = levels[levels.length - 1] === "#";
  const fixed = (hash ? levels.slice(0, -1) : levels).map((l) => (l === "+" ? "[^/]*" : escapeRegExp(l)));
  const body = fixed.join("/");
  const pattern = hash ? (fixed.length ? `^${body}(/.*)?$` : "^.*$") : `^${body}$`;
  return new RegExp(pattern, "s").test(topic);
}

const who = { app: "xq", id: "u1" };
const groupsOf = new Set(["g1"]);
const isMember = (g: string) => groupsOf.has(g);

/** CONTRACT §3's SUBSCRIBE rule, level by level. */
function referenceSubscribe(filter: string): "user" | "all-mine" | string | null {
  const [app, kind, id] = filter.split("/");
  if (app !== who.app || id === undefined || id === "") return null;
  if (kind === "user") return id === who.id ? "user" : null;
  if (kind !== "group") return null;
  if (id === "+") return "all-mine";
  if (id.includes("+") || id.includes("#")) return null;
  return isMember(id) ? id : null;
}

/** CONTRACT §3's PUBLISH rule. */
function referencePublish(topic: string): boolean {
  if (topic === `${who.app}/app/status`) return true;
  const [app, kind, id] = topic.split("/");
  if (app !== who.app || !id) return false;
  if (kind === "user") return id === who.id;
  if (kind === "group") return isMember(id);
  return false;
}

describe("topic matching against a reference", () => {
  it("topicMatches agrees with the regular-expression reference", () => {
    fc.assert(
      fc.property(topicFilter, topicName, (filter, topic) => {
        fc.pre(isValidTopicFilter(filter) && isValidTopicName(topic));
        expect(topicMatches(filter, topic)).toBe(referenceMatch(filter, topic));
      }),
      { numRuns: 5000 },
    );
  });

  it("a topic name always matches itself, and '#' matches every topic not starting with $", () => {
    fc.assert(
      fc.property(topicName, (topic) => {
        fc.pre(isValidTopicName(topic));
        expect(topicMatches(topic, topic)).toBe(true);
        expect(topicMatches("#", topic)).toBe(!topic.startsWith("$"));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the ACL against a reference (CONTRACT §3)", () => {
  const appFilter = fc
    .tuple(
      fc.constantFrom("xq", "other", "$SYS", ""),
      fc.constantFrom("user", "group", "app", ""),
      topicFilter,
    )
    .map(([app, kind, rest]) => `${app}/${kind}/${rest}`);
  const appTopic = fc
    .tuple(fc.constantFrom("xq", "other", "$SYS", ""), fc.constantFrom("user", "group", "app", ""), topicName)
    .map(([app, kind, rest]) => `${app}/${kind}/${rest}`);

  it("SUBSCRIBE: own user channel, member groups, '+' for all of mine; nothing else", () => {
    fc.assert(
      fc.property(appFilter, (filter) => {
        fc.pre(isValidTopicFilter(filter));
        const scope = subscribeScope(who, filter, isMember);
        const expected = referenceSubscribe(filter);
        if (expected === null) expect(scope).toBeNull();
        else if (expected === "user") expect(scope).toEqual({ user: true, groups: [] });
        else if (expected === "all-mine") expect(scope).toEqual({ user: false, groups: "all-mine" });
        else expect(scope).toEqual({ user: false, groups: [expected] });
      }),
      { numRuns: 5000 },
    );
  });

  it("SUBSCRIBE: whatever is granted matches no topic of another user, app or non-member group", () => {
    fc.assert(
      fc.property(appFilter, appTopic, (filter, topic) => {
        fc.pre(isValidTopicFilter(filter) && isValidTopicName(topic));
        const scope = subscribeScope(who, filter, isMember);
        if (!scope || !topicMatches(filter, topic)) return;
        const [, kind, id] = topic.split("/");
        if (scope.user) expect([kind, id]).toEqual(["user", who.id]);
        else
          expect(kind === "group" && (scope.groups === "all-mine" || scope.groups.includes(String(id)))).toBe(
            true,
          );
      }),
      { numRuns: 5000 },
    );
  });

  it("PUBLISH: status, own user channel and member groups only", () => {
    fc.assert(
      fc.property(appTopic, (topic) => {
        fc.pre(isValidTopicName(topic));
        expect(mayPublish(who, topic, isMember)).toBe(referencePublish(topic));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("the ACL of shared subscriptions `$share/<name>/<filter>` (CONTRACT §3, MQTT-4.8.2)", () => {
  const ctx: Ctx = {
    now: 0,
    who,
    isMember,
    hasSession: () => false,
    hasInboundQos2: () => false,
    inboundQos2Count: () => 0,
    newClientId: () => "auto",
    subscriptionCount: () => 0,
  };
  const connected = (version: 4 | 5): ConnState =>
    handlePacket(
      newConnState(),
      { type: "connect", protocolVersion: version, clientId: "c", clean: true, keepalive: 0 },
      ctx,
    ).conn;
  // Share names, some invalid ("", wildcards); inner filters in this app, another, or none.
  const shareName = fc.constantFrom("s", "grp", "", "a+", "#", "x.y", "$share");
  const inner = fc
    .tuple(fc.constantFrom("xq", "other", ""), fc.constantFrom("user", "group", "app"), topicFilter)
    .map(([app, kind, rest]) => `${app}/${kind}/${rest}`);
  const sharedFilter = fc.tuple(shareName, inner).map(([name, f]) => `$share/${name}/${f}`);
  const codeFor = (version: 4 | 5, filter: string) => {
    const r = handlePacket(
      connected(version),
      { type: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] },
      ctx,
    );
    return r.out[0]?.type === "suback" ? r.out[0].granted[0] : undefined;
  };

  it.each([4, 5] as const)("is granted exactly when its inner filter would be (level %i)", (version) => {
    fc.assert(
      fc.property(sharedFilter, (filter) => {
        const [, name = "", ...rest] = filter.split("/");
        const innerFilter = rest.join("/");
        const validName = name !== "" && !name.includes("+") && !name.includes("#");
        const code = codeFor(version, filter);
        if (!validName || !isValidTopicFilter(innerFilter)) expect(code).toBe(version === 5 ? 0x8f : 0x80);
        else expect(code).toBe(codeFor(version, innerFilter));
        expect(code === 1).toBe(
          validName && isValidTopicFilter(innerFilter) && referenceSubscribe(innerFilter) !== null,
        );
      }),
      { numRuns: 3000 },
    );
  });

  it("a granted shared filter matches no topic of another user, app or non-member group", () => {
    // As for plain filters: `<app>/group/+/…` reaches only member groups (their hubs deliver).
    fc.assert(
      fc.property(sharedFilter, fc.array(level, { minLength: 4, maxLength: 8 }), (filter, fill) => {
        // A topic the filter matches: its wildcards filled in with arbitrary levels.
        const levels = filter.split("/").slice(2);
        const topic = levels
          .flatMap((l, i) => (l === "+" ? [fill[i] ?? "a"] : l === "#" ? fill.slice(i) : [l]))
          .join("/");
        fc.pre(isValidTopicName(topic) && codeFor(5, filter) === 1 && shareMatches(filter, topic));
        const scope = subscribeScope(who, filter.split("/").slice(2).join("/"), isMember);
        const [app, kind, id] = topic.split("/");
        expect(app).toBe(who.app);
        if (scope?.user) expect([kind, id]).toEqual(["user", who.id]);
        else
          expect(
            kind === "group" && (scope?.groups === "all-mine" || scope?.groups.includes(String(id)) === true),
          ).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
