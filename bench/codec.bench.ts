// Codec throughput: our codec against mqtt-packet, on the packets a push broker handles most.
// Run: npx vitest bench --run --project unit bench/codec.bench.ts  (also part of `npm run bench`)
import mqttPacket from "mqtt-packet";
import { bench, describe } from "vitest";
import { encode, FrameBuffer } from "../src/mqtt/codec";
import type { PublishPacket } from "../src/mqtt/codec/types";

const payload = new TextEncoder().encode(
  JSON.stringify({
    push_type: "talk",
    group_id: 42,
    sender: "861234567890123",
    sender_type: 2,
    type: 3,
    content: "到家了",
    timestamp: 1700000000.5,
  }),
);
const ours: PublishPacket = {
  type: "publish",
  topic: "xunqun/group/42/talk",
  payload,
  qos: 1,
  retain: false,
  dup: false,
  messageId: 7,
};
const theirs = {
  cmd: "publish" as const,
  topic: ours.topic,
  payload: Buffer.from(payload),
  qos: 1 as const,
  retain: false,
  dup: false,
  messageId: 7,
};
const wire = encode(ours, 4);
const batch = new Uint8Array(wire.length * 100);
for (let i = 0; i < 100; i++) batch.set(wire, i * wire.length);

describe("encode PUBLISH (3.1.1, QoS 1, seed 002 talk body)", () => {
  bench("edge-push codec", () => {
    encode(ours, 4);
  });
  bench("mqtt-packet", () => {
    mqttPacket.generate(theirs, { protocolVersion: 4 });
  });
});

describe("decode 100 PUBLISH packets from one buffer", () => {
  bench("edge-push codec", () => {
    const fb = new FrameBuffer(1 << 20, 4);
    fb.push(batch.slice());
  });
  bench("mqtt-packet", () => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let _n = 0;
    parser.on("packet", () => {
      _n += 1;
    });
    parser.parse(Buffer.from(batch));
  });
});
