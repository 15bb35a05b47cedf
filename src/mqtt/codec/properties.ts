import { malformed, protocolError } from "./errors";
import { type Reader, Writer } from "./reader";
import type { Properties, UserProperty } from "./types";

/** Where a property block sits: a packet type, or the Will Properties of a CONNECT. */
export type PropertyContext =
  | "connect"
  | "will"
  | "connack"
  | "publish"
  | "puback"
  | "pubrec"
  | "pubrel"
  | "pubcomp"
  | "subscribe"
  | "suback"
  | "unsubscribe"
  | "unsuback"
  | "disconnect"
  | "auth";

type Kind = "bool" | "byte" | "u16" | "u32" | "varint" | "string" | "binary" | "pair";

interface PropertyDef {
  id: number;
  name: keyof Properties;
  kind: Kind;
  contexts: readonly PropertyContext[];
  // values outside this are a Protocol Error (checked on decode)
  valid?: (value: number) => boolean;
}

const MESSAGE: readonly PropertyContext[] = ["publish", "will"];
const REASONED: readonly PropertyContext[] = [
  "connack",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "suback",
  "unsuback",
  "disconnect",
  "auth",
];
const EVERY: readonly PropertyContext[] = [
  ...REASONED,
  "connect",
  "will",
  "publish",
  "subscribe",
  "unsubscribe",
];
const nonZero = (value: number) => value !== 0;

/** Table 2-4 of MQTT 5.0: identifier, name, data type, and where each property may appear. */
export const PROPERTIES: readonly PropertyDef[] = [
  { id: 0x01, name: "payloadFormatIndicator", kind: "bool", contexts: MESSAGE },
  { id: 0x02, name: "messageExpiryInterval", kind: "u32", contexts: MESSAGE },
  { id: 0x03, name: "contentType", kind: "string", contexts: MESSAGE },
  { id: 0x08, name: "responseTopic", kind: "string", contexts: MESSAGE },
  { id: 0x09, name: "correlationData", kind: "binary", contexts: MESSAGE },
  // 3.8.2.1.2: a Subscription Identifier of 0 is a Protocol Error
  {
    id: 0x0b,
    name: "subscriptionIdentifiers",
    kind: "varint",
    contexts: ["publish", "subscribe"],
    valid: nonZero,
  },
  { id: 0x11, name: "sessionExpiryInterval", kind: "u32", contexts: ["connect", "connack", "disconnect"] },
  { id: 0x12, name: "assignedClientIdentifier", kind: "string", contexts: ["connack"] },
  { id: 0x13, name: "serverKeepAlive", kind: "u16", contexts: ["connack"] },
  { id: 0x15, name: "authenticationMethod", kind: "string", contexts: ["connect", "connack", "auth"] },
  { id: 0x16, name: "authenticationData", kind: "binary", contexts: ["connect", "connack", "auth"] },
  { id: 0x17, name: "requestProblemInformation", kind: "bool", contexts: ["connect"] },
  { id: 0x18, name: "willDelayInterval", kind: "u32", contexts: ["will"] },
  { id: 0x19, name: "requestResponseInformation", kind: "bool", contexts: ["connect"] },
  { id: 0x1a, name: "responseInformation", kind: "string", contexts: ["connack"] },
  { id: 0x1c, name: "serverReference", kind: "string", contexts: ["connack", "disconnect"] },
  { id: 0x1f, name: "reasonString", kind: "string", contexts: REASONED },
  // 3.1.2.11.3 / 3.2.2.3.3: Receive Maximum 0 is a Protocol Error
  { id: 0x21, name: "receiveMaximum", kind: "u16", contexts: ["connect", "connack"], valid: nonZero },
  { id: 0x22, name: "topicAliasMaximum", kind: "u16", contexts: ["connect", "connack"] },
  // 3.3.2.3.4: a Topic Alias of 0 is not permitted [MQTT-3.3.2-8]
  { id: 0x23, name: "topicAlias", kind: "u16", contexts: ["publish"], valid: nonZero },
  { id: 0x24, name: "maximumQoS", kind: "byte", contexts: ["connack"], valid: (v) => v <= 1 },
  { id: 0x25, name: "retainAvailable", kind: "bool", contexts: ["connack"] },
  { id: 0x26, name: "userProperties", kind: "pair", contexts: EVERY },
  // 3.1.2.11.4 / 3.2.2.3.6: Maximum Packet Size 0 is a Protocol Error
  { id: 0x27, name: "maximumPacketSize", kind: "u32", contexts: ["connect", "connack"], valid: nonZero },
  { id: 0x28, name: "wildcardSubscriptionAvailable", kind: "bool", contexts: ["connack"] },
  { id: 0x29, name: "subscriptionIdentifiersAvailable", kind: "bool", contexts: ["connack"] },
  { id: 0x2a, name: "sharedSubscriptionAvailable", kind: "bool", contexts: ["connack"] },
];

const BY_ID = new Map(PROPERTIES.map((def) => [def.id, def]));

const repeatable = (def: PropertyDef, context: PropertyContext | undefined) =>
  def.kind === "pair" || (def.name === "subscriptionIdentifiers" && context !== "subscribe");

function readValue(r: Reader, def: PropertyDef): unknown {
  const what = `property ${def.name}`;
  switch (def.kind) {
    case "bool": {
      const byte = r.u8(what);
      if (byte > 1) throw protocolError(`${what}: value ${byte} is neither 0 nor 1`); // 2.2.2.2 value rules
      return byte === 1;
    }
    case "byte":
      return r.u8(what);
    case "u16":
      return r.u16(what);
    case "u32":
      return r.u32(what);
    case "varint":
      return r.varint(what);
    case "string":
      return r.utf8(what);
    case "binary":
      return r.binary(what);
    case "pair":
      return [r.utf8(`${what} name`), r.utf8(`${what} value`)] satisfies UserProperty;
  }
}

/**
 * Reads a Property Length and the properties after it. With a `context`, an identifier not
 * allowed there is malformed (2.2.2.2). Repeating a property is a Protocol Error, except User
 * Property and the Subscription Identifiers of a PUBLISH. Returns undefined for an empty block.
 */
export function decodeProperties(r: Reader, context?: PropertyContext): Properties | undefined {
  const block = r.sub(r.varint("property length"), "properties");
  if (block.remaining === 0) return undefined;
  const out: Record<string, unknown> = {};
  while (block.remaining > 0) {
    const id = block.varint("property identifier");
    const def = BY_ID.get(id);
    if (!def) throw malformed(`unknown property identifier 0x${id.toString(16)}`); // 2.2.2.2
    if (context && !def.contexts.includes(context)) {
      throw malformed(`property ${def.name} is not allowed in ${context}`); // 2.2.2.2
    }
    const value = readValue(block, def);
    if (def.valid && !def.valid(value as number))
      throw protocolError(`property ${def.name}: invalid value ${value}`);
    const seen = out[def.name];
    if (seen !== undefined && !repeatable(def, context)) {
      throw protocolError(`property ${def.name} included more than once`); // "It is a Protocol Error to include ... more than once"
    }
    if (def.kind === "pair" || def.name === "subscriptionIdentifiers") {
      out[def.name] = [...((seen as unknown[] | undefined) ?? []), value];
    } else {
      out[def.name] = value;
    }
  }
  if (out.authenticationData !== undefined && out.authenticationMethod === undefined) {
    throw protocolError("authentication data without authentication method"); // 3.1.2.11.10
  }
  return out as Properties;
}

function writeValue(w: Writer, def: PropertyDef, value: unknown): void {
  w.varint(def.id);
  switch (def.kind) {
    case "bool":
      w.u8(value ? 1 : 0);
      return;
    case "byte":
      w.u8(value as number);
      return;
    case "u16":
      w.u16(value as number);
      return;
    case "u32":
      w.u32(value as number);
      return;
    case "varint":
      w.varint(value as number);
      return;
    case "string":
      w.utf8(value as string);
      return;
    case "binary":
      w.binary(value as Uint8Array);
      return;
    case "pair": {
      const [name, text] = value as UserProperty;
      w.utf8(name).utf8(text);
    }
  }
}

/** Writes a Property Length and the properties (in identifier order); none gives a single 0. */
export function encodeProperties(w: Writer, props: Properties | undefined): void {
  const block = new Writer();
  if (props) {
    for (const def of PROPERTIES) {
      const value = props[def.name];
      if (value === undefined) continue;
      if (def.kind === "pair" || def.name === "subscriptionIdentifiers") {
        for (const item of value as unknown[]) writeValue(block, def, item);
      } else {
        writeValue(block, def, value);
      }
    }
  }
  w.varint(block.length).bytes(block.view());
}

/** True when `props` would encode to an empty property block. */
export function isEmpty(props: Properties | undefined): boolean {
  if (!props) return true;
  return PROPERTIES.every((def) => {
    const value = props[def.name];
    return value === undefined || (Array.isArray(value) && value.length === 0);
  });
}
