import mqttPacket, { type Packet } from "mqtt-packet";
import type WebSocket from "ws";
import { rawSocket } from "./helpers";

/** How a raw connection ended: the WebSocket close code and when (ms since the epoch). */
export type Closed = { code: number; at: number };

/**
 * A hand-driven MQTT connection over a raw WebSocket: packets are written with mqtt-packet (or as
 * literal bytes) and every packet the broker sends is parsed and kept in order, so a test sees
 * exactly what is on the wire (DUP flags, PUBRELs, CONNACK codes) and controls every ack.
 */
export class RawClient {
  readonly received: Packet[] = [];
  readonly closed: Promise<Closed>;
  private readonly waiters: (() => void)[] = [];
  private cursor = 0;
  private closeCode: number | null = null;

  private constructor(
    readonly ws: WebSocket,
    readonly version: 4 | 5,
  ) {
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on("packet", (p: Packet) => {
      this.received.push(p);
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on("message", (data: Buffer) => parser.parse(data));
    this.closed = new Promise((resolve) =>
      ws.on("close", (code) => {
        this.closeCode = code;
        for (const w of this.waiters.splice(0)) w();
        resolve({ code, at: Date.now() });
      }),
    );
    ws.on("error", () => undefined);
  }

  static async open(token: string, version: 4 | 5 = 4): Promise<RawClient> {
    return new RawClient(await rawSocket(token), version);
  }

  /** Sends a packet (encoded for this client's version) or raw bytes. */
  send(p: Packet | Uint8Array): void {
    this.ws.send(p instanceof Uint8Array ? p : mqttPacket.generate(p, { protocolVersion: this.version }));
  }

  /** CONNECT and wait for the CONNACK. */
  async connect(opts: Partial<mqttPacket.IConnectPacket> = {}): Promise<mqttPacket.IConnackPacket> {
    this.send({
      cmd: "connect",
      protocolVersion: this.version,
      clientId: "raw",
      clean: true,
      keepalive: 0,
      ...opts,
    });
    return (await this.next("connack")) as mqttPacket.IConnackPacket;
  }

  /** The next packet not yet taken (of type `cmd` when given, skipping others). */
  async next(cmd?: Packet["cmd"], timeoutMs = 5000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const p = this.received[this.cursor++] as Packet;
        if (!cmd || p.cmd === cmd) return p;
      }
      if (this.closeCode !== null) throw new Error(`closed (${this.closeCode}) before ${cmd ?? "a packet"}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${cmd ?? "packet"} in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits `ms` milliseconds, then takes every packet not yet taken. */
  async quiet(ms: number): Promise<Packet[]> {
    await new Promise((r) => setTimeout(r, ms));
    const from = this.cursor;
    this.cursor = this.received.length;
    return this.received.slice(from);
  }

  /** Drops the TCP connection without a DISCONNECT or a close frame (an abnormal close). */
  kill(): void {
    this.ws.terminate();
  }
}

/** Resolves with the close code, or rejects when the socket is still open after `ms`. */
export const rawClosedWithin = (c: RawClient, ms: number) =>
  Promise.race([
    c.closed,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms)),
  ]);
