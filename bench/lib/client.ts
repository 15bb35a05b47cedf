/**
 * mqtt.js clients for the benchmarks, many per process, each sending one WebSocket frame per MQTT
 * packet as device SDKs do. (mqtt.js in Node writes a packet in pieces, and `ws`'s stream sends
 * each piece as its own frame; this stream collects the pieces and sends each packet whole.)
 */
import { Duplex } from "node:stream";
import { type IClientOptions, MqttClient } from "mqtt";
import WebSocket from "ws";

/** Bytes of the whole packet starting at `buf[0]`, or 0 when the header is not complete yet. */
const packetLength = (buf: Buffer): number => {
  let length = 0;
  let multiplier = 1;
  for (let i = 1; i < 5; i++) {
    if (i >= buf.length) return 0;
    const byte = buf[i] as number;
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return 1 + i + length;
    multiplier *= 128;
  }
  throw new Error("malformed remaining length from mqtt.js");
};

class PacketFramedStream extends Duplex {
  private pending: Buffer = Buffer.alloc(0);
  private readonly opened: Promise<void>;

  constructor(private readonly ws: WebSocket) {
    super();
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    this.opened.catch((err: Error) => this.destroy(err));
    ws.on("message", (data: Buffer) => {
      this.push(data);
    });
    ws.on("close", () => {
      this.push(null);
      this.destroy();
    });
    ws.on("error", (err) => this.destroy(err));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const whole: Buffer[] = [];
    for (;;) {
      const n = packetLength(this.pending);
      if (n === 0 || n > this.pending.length) break;
      whole.push(this.pending.subarray(0, n));
      this.pending = this.pending.subarray(n);
    }
    if (whole.length === 0) {
      cb();
      return;
    }
    const send = () => {
      try {
        for (const packet of whole) this.ws.send(packet);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    };
    if (this.ws.readyState === WebSocket.OPEN) send();
    else this.opened.then(send, (err: Error) => cb(err));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    }
    cb(err);
  }
}

/**
 * Connects one client; resolves on CONNACK, rejects on a refusal, an error or `timeoutMs`.
 * `setup` sees the client before it connects (a message handler for what a resumed session
 * receives right after its CONNACK).
 */
export const connectClient = (
  url: string,
  options: IClientOptions,
  timeoutMs = 30_000,
  setup?: (client: MqttClient) => void,
) =>
  new Promise<MqttClient>((resolve, reject) => {
    const client = new MqttClient(
      () => new PacketFramedStream(new WebSocket(url, "mqtt", { perMessageDeflate: false })),
      { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: timeoutMs, keepalive: 60, ...options },
    );
    setup?.(client);
    const timer = setTimeout(() => fail(new Error("CONNACK timeout")), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      client.end(true);
      reject(err);
    };
    const closed = () => fail(new Error("closed before CONNACK"));
    client.once("connect", () => {
      clearTimeout(timer);
      client.removeListener("error", fail);
      client.removeListener("close", closed);
      client.on("error", () => {});
      resolve(client);
    });
    client.once("error", fail);
    client.once("close", closed);
  });

export const endClient = (client: MqttClient) =>
  new Promise<void>((resolve) => {
    if (!client.connected) {
      client.end(true, () => resolve());
      return;
    }
    client.end(false, () => resolve());
    setTimeout(() => client.end(true, () => resolve()), 2000).unref();
  });
