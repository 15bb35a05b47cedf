import { describe, expect, it } from "vitest";
import { isValidTopicFilter, isValidTopicName } from "../../../src/mqtt/codec";

describe("topic names and filters (4.7)", () => {
  it.each(["a", "a/b", "/", "a//b", "$SYS/x", "é/😀"])("%j is a valid topic name", (topic) => {
    expect(isValidTopicName(topic)).toBe(true);
  });

  it.each(["", "a/+", "#", "a/#/b"])("%j is not a valid topic name", (topic) => {
    expect(isValidTopicName(topic)).toBe(false);
  });

  it.each(["a", "#", "+", "a/#", "+/+/#", "/+", "a//b", "$share/g/a/#", "$share/g/+"])(
    "%j is a valid filter",
    (f) => {
      expect(isValidTopicFilter(f)).toBe(true);
    },
  );

  it.each([
    ["", "[MQTT-4.7.3-1]"],
    ["a#", "[MQTT-4.7.1-2]"],
    ["a/#/b", "[MQTT-4.7.1-2]"],
    ["a+", "[MQTT-4.7.1-3]"],
    ["a/+b", "[MQTT-4.7.1-3]"],
    ["$share//a", "[MQTT-4.8.2-1]"],
    ["$share/g+/a", "[MQTT-4.8.2-2]"],
    ["$share/g", "[MQTT-4.8.2-1]"],
    ["$share/g/", "[MQTT-4.8.2-1]"],
  ])("%j is not a valid filter %s", (f) => {
    expect(isValidTopicFilter(f)).toBe(false);
  });
});
