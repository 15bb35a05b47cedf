import fc from "fast-check";
import { describe, expect, it } from "vitest";
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
