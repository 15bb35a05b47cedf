import { DurableObject } from "cloudflare:workers";
import { countDurableObject } from "../lib/ops";
import { type KeepalivePolicy, type Message, newConnState } from "../mqtt/session";
import { innerFilter } from "../mqtt/shared";
import { channelOf, type Identity } from "../mqtt/topics";
import { stampFor } from "../push/msg-id";
import {
  type GroupMessage,
  groupHub,
  IDENTITY_APP,
  IDENTITY_GEN,
  IDENTITY_KEEPALIVE,
  IDENTITY_SESSION,
  IDENTITY_SUB,
  logHubError,
  type PublishOutcome,
  StubCache,
} from "./common";
import { Faults } from "./faults";
import { MetricsBatch } from "./metrics";
import {
  type Attachment,
  armAlarm,
  CONNECT_TIMEOUT_MS,
  type Hub,
  hubLabel,
  liveSockets,
  peekAttachment,
  sessionKey,
  writeAttachment,
} from "./user-context";
import { Delivery } from "./user-delivery";
import { onMessage } from "./user-effects";
import { syncGroupRegistrations } from "./user-groups";
import { closeSocket, connectionLost, type Presence, presenceOf, recover, sweep } from "./user-lifecycle";
import { reportDropped } from "./user-receipts";
import { syncRegistry } from "./user-registry";
import { dropGroupWills, type RevokeScope, revoke, tokenGeneration } from "./user-revoke";
import { type SessionView, sessionsOf } from "./user-sessions";
import { UserStore } from "./user-store";

/** The keepalive policy the Worker put on the upgrade (absent: the clients' own values). */
function keepaliveHeader(value: string | null): KeepalivePolicy | undefined {
  if (!value) return undefined;
  const p = JSON.parse(value) as Partial<KeepalivePolicy>;
  if (typeof p.min !== "number" || typeof p.max !== "number") return undefined;
  return typeof p.preferred === "number"
    ? { preferred: p.preferred, min: p.min, max: p.max }
    : { min: p.min, max: p.max };
}

/**
 * One per `<app>:<user id or imei>`: that identity's MQTT connections (hibernatable WebSockets),
 * its sessions, presence and the retained messages of its user topics. Every entry point
 * catches its errors: a bad client is disconnected alone. RPC methods log and rethrow, so the
 * caller (queue consumer, route) retries or answers an error instead of counting a success.
 *
 * This class is the shell: entry points and RPC. The work is done on a `Hub` context by
 * user-effects.ts (packets and their effects), user-lifecycle.ts (connection end, wills,
 * presence, alarm, recovery) and user-groups.ts (routing, memberships, group registrations).
 */
export class UserHub extends DurableObject<Env> {
  private readonly hub: Hub;
  private readonly faults: Faults;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "UserHub");
    const store = new UserStore(ctx.storage.sql);
    this.faults = new Faults(ctx.storage.sql, env);
    const app = store.getMeta("app");
    const id = store.getMeta("id");
    this.hub = {
      ctx,
      env,
      store,
      who: app && id ? { app, id } : null,
      delivery: new Delivery(
        store,
        () => liveSockets(this.hub),
        (clientId) => sessionKey(this.hub, clientId),
        // Delivery truth: a push dropped here is named in the log (other drops are only
        // counted) and fails its MQTT target in the task's records, unless the user received it.
        (clientId, d) => {
          if (d.msgIds.length === 0) return;
          console.warn(
            `${hubLabel(this.hub)}: session ${clientId}: queue bound reached; pushes dropped: ${d.msgIds.join(", ")}`,
          );
          reportDropped(this.hub, clientId, d.msgIds);
        },
        () => this.hub.metrics.add("mqtt_out"),
      ),
      metrics: new MetricsBatch(
        env,
        () => this.hub.who?.app ?? null,
        () => this.name(),
      ),
      buffers: new Map(),
      chains: new Map(),
      groups: new StubCache((key) => {
        const [app = "", groupId = ""] = key.split("\u0000");
        return groupHub(env, app, groupId);
      }),
      opening: 0,
      registry: Promise.resolve(),
    };
    ctx.blockConcurrencyWhile(async () => {
      try {
        await recover(this.hub);
      } catch (err) {
        logHubError(this.name(), "recover", err);
      }
    });
  }

  private name() {
    return hubLabel(this.hub);
  }

  private remember(who: Identity) {
    const hub = this.hub;
    if (hub.who?.app === who.app && hub.who.id === who.id) return;
    hub.who = who;
    hub.store.setMeta("app", who.app);
    hub.store.setMeta("id", who.id);
  }

  // --- entry points ---------------------------------------------------------------------

  override async fetch(request: Request): Promise<Response> {
    try {
      const app = request.headers.get(IDENTITY_APP);
      const sub = request.headers.get(IDENTITY_SUB);
      if (!app || !sub || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return new Response("expected a WebSocket upgrade", { status: 426 });
      }
      this.remember({ app, id: sub });
      this.hub.opening += 1;
      try {
        return await this.open(request);
      } finally {
        this.hub.opening -= 1;
      }
    } catch (err) {
      logHubError(this.name(), "fetch", err);
      return new Response("internal error", { status: 500 });
    }
  }

  /**
   * Accepts an upgrade: unless its MQTT token is of a revoked generation (checked again after
   * the registry call, which a revocation may overtake) or the app registry refuses the join.
   */
  private async open(request: Request): Promise<Response> {
    const gen = request.headers.get(IDENTITY_GEN);
    const revoked = () => gen !== null && Number(gen) < tokenGeneration(this.hub);
    if (revoked()) return new Response("the token has been revoked", { status: 401 });
    if (!(await syncRegistry(this.hub))) return new Response("the app is disabled", { status: 403 });
    if (revoked()) return new Response("the token has been revoked", { status: 401 });
    const pair = new WebSocketPair();
    const now = Date.now();
    this.ctx.acceptWebSocket(pair[1]);
    const att: Attachment = {
      v: 1,
      connId: crypto.randomUUID(),
      openedAt: now,
      lastSeen: now,
      conn: newConnState(),
      ka: keepaliveHeader(request.headers.get(IDENTITY_KEEPALIVE)),
      sid: request.headers.get(IDENTITY_SESSION) ?? undefined,
    };
    writeAttachment(pair[1], att);
    await armAlarm(this.hub, now + CONNECT_TIMEOUT_MS);
    // [MQTT-6.0.0-3/4] the subprotocol is echoed.
    return new Response(null, {
      status: 101,
      webSocket: pair[0],
      headers: { "sec-websocket-protocol": "mqtt" },
    });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const att = peekAttachment(ws);
    if (!att) return;
    const { chains } = this.hub;
    // Packets of one connection are handled strictly in order, even across awaits.
    const prev = chains.get(att.connId) ?? Promise.resolve();
    const next = prev
      .then(() => onMessage(this.hub, ws, data))
      .catch(async (err) => {
        logHubError(this.name(), "webSocketMessage", err);
        await closeSocket(this.hub, ws, 1011, "internal error").catch(() => undefined);
      });
    chains.set(att.connId, next);
    await next;
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    try {
      await connectionLost(this.hub, ws);
    } catch (err) {
      logHubError(this.name(), "webSocketClose", err);
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    try {
      await connectionLost(this.hub, ws);
    } catch (err) {
      logHubError(this.name(), "webSocketError", err);
    }
  }

  override async alarm(): Promise<void> {
    try {
      await sweep(this.hub, Date.now());
    } catch (err) {
      logHubError(this.name(), "alarm", err);
      await this.ctx.storage.setAlarm(Date.now() + 30_000);
    }
  }

  // --- RPC (Worker, GroupHub): log with context, then rethrow ---------------------------

  private rpc<T>(entry: string, work: () => T | Promise<T>): Promise<T> {
    return (async () => {
      try {
        this.faults.check(entry);
        return await work();
      } catch (err) {
        logHubError(this.name(), entry, err);
        throw err;
      }
    })();
  }

  /** Delivers messages published elsewhere (a group, the push pipeline): connections reached. */
  async deliver(who: Identity, messages: GroupMessage[]): Promise<number> {
    return this.rpc("deliver", () => {
      this.remember(who);
      const mine = this.hub.store.memberships();
      let reached = 0;
      for (const m of messages) {
        // A member removed while a group fan-out was under way gets nothing more from it.
        const ch = channelOf(who.app, m.topic);
        if (ch.kind === "group" && !mine.has(ch.id)) continue;
        const { shares, ...message } = m;
        reached += this.hub.delivery.deliver(stampFor(message, who.id), Date.now(), shares);
      }
      return reached;
    });
  }

  /** A server publish to this user's topic: retained if asked, delivered at QoS 1 or as given. */
  async publish(who: Identity, message: Message): Promise<PublishOutcome> {
    return this.rpc("publish", () => {
      this.remember(who);
      const m = stampFor(message, who.id);
      if (m.retain) this.hub.store.retain(m);
      const delivered = this.hub.delivery.deliver(m, Date.now());
      const sessionless = this.hub.store.sessions.count() === 0;
      return { delivered, foreground: presenceOf(this.hub, who).focus === 1, sessionless };
    });
  }

  /** CONTRACT §2 presence. */
  async presence(who: Identity): Promise<Presence> {
    return this.rpc("presence", () => presenceOf(this.hub, who));
  }

  /** The identity's MQTT sessions, live and offline (operator lists). */
  async sessions(_who: Identity): Promise<SessionView[]> {
    return this.rpc("sessions", () => sessionsOf(this.hub));
  }

  /** Membership changed in D1: follow it at once (a removed member stops receiving). */
  async setMembership(who: Identity, groupId: string, member: boolean): Promise<void> {
    // D1 stays the truth: a caller that sees this fail answers an error, and a CONNECT reloads
    // the memberships once they are MEMBERSHIPS_FRESH_MS old.
    return this.rpc("setMembership", async () => {
      this.remember(who);
      this.hub.store.setMembership(groupId, member);
      if (!member) {
        dropGroupWills(this.hub, groupId);
        this.hub.store.sessions.deleteSubscriptionsWhere((f) => {
          const ch = channelOf(who.app, innerFilter(f));
          return ch.kind === "group" && ch.id === groupId;
        });
      }
      await syncGroupRegistrations(this.hub);
    });
  }

  /** The generation new MQTT tokens of this identity carry (claim `gen`). */
  async tokenGeneration(who: Identity): Promise<number> {
    return this.rpc("tokenGeneration", () => {
      this.remember(who);
      return tokenGeneration(this.hub);
    });
  }

  /**
   * An operator ended rights (token revocation, kick, technician session or ban, app disabled):
   * the connections `scope` names get DISCONNECT 0x98 (5.0) and are closed.
   */
  async revoke(who: Identity, scope: RevokeScope): Promise<{ closed: number; generation: number }> {
    return this.rpc("revoke", () => {
      this.remember(who);
      return revoke(this.hub, scope);
    });
  }

  /** Tests only (TEST_HOOKS): makes an RPC method throw its next `times` calls. */
  async injectFault(method: string, times: number): Promise<void> {
    this.faults.arm(method, times);
  }
}
