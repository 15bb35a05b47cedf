import { errorText, logLine } from "../lib/log";
import type { Message } from "../mqtt/session";
import type { Identity } from "../mqtt/topics";

/** Durable Object names: one UserHub per `<app>:<id>`, one GroupHub per `<app>:<group id>`. */
export const hubName = (app: string, id: string) => `${app}:${id}`;

export const userHub = (env: Env, who: Identity) =>
  env.USER_HUB.get(env.USER_HUB.idFromName(hubName(who.app, who.id)));
export const groupHub = (env: Env, app: string, groupId: string) =>
  env.GROUP_HUB.get(env.GROUP_HUB.idFromName(hubName(app, groupId)));

/**
 * Stubs reused by key within one object, for the hot paths (a message to a group, a group's
 * calls to its members): `idFromName` hashes the name on every call. A caller drops the stub of
 * a call that failed, since a stub can be left broken by an error. At most `max` are kept.
 */
export class StubCache<S> {
  private readonly stubs = new Map<string, S>();

  constructor(
    private readonly make: (key: string) => S,
    private readonly max = 10_000,
  ) {}

  get(key: string): S {
    let stub = this.stubs.get(key);
    if (stub === undefined) {
      if (this.stubs.size >= this.max) this.stubs.clear();
      stub = this.make(key);
      this.stubs.set(key, stub);
    }
    return stub;
  }

  drop(key: string): void {
    this.stubs.delete(key);
  }
}

/** Headers the Worker sets on the upgrade it forwards to a UserHub (never taken from clients). */
export const IDENTITY_APP = "x-edge-push-app";
export const IDENTITY_SUB = "x-edge-push-sub";
/** MQTT tokens: the token's generation (`gen` claim, 0 when absent); older than the hub's: 401. */
export const IDENTITY_GEN = "x-edge-push-gen";
/** Technician login tokens: the session id, so ending that session ends its connections. */
export const IDENTITY_SESSION = "x-edge-push-session";
/** The connection's keepalive policy (JSON `KeepalivePolicy`), from the app and the token. */
export const IDENTITY_KEEPALIVE = "x-edge-push-keepalive";

/**
 * A message a GroupHub hands a member identity: `shares` names the share groups (`$share/…`
 * filters) it picked this identity for; absent, the identity's own rules apply.
 */
export type GroupMessage = Message & { shares?: string[] };

/**
 * The result of a server publish (CONTRACT §2 push routing): what a publish to a user's hub did: live connections reached, whether the app is in the
 * foreground, and whether the user had no MQTT session at all (not connected, no stored
 * persistent session), so nothing holds the message.
 */
export type PublishOutcome = { delivered: number; foreground: boolean; sessionless?: boolean };

/** Logs an error that an entry point caught, with the hub and entry point named. */
export const logHubError = (hub: string, entry: string, err: unknown) => {
  logLine("error", `${hub} ${entry}: ${errorText(err)}`, { hub, entry });
};

export type { Identity, Message };

/** JSON that keeps Uint8Array (correlation data, will payloads) as base64. */
const replacer = (_: string, v: unknown) =>
  v instanceof Uint8Array ? { $b64: btoa(String.fromCharCode(...v)) } : v;
const reviver = (_: string, v: unknown) =>
  v && typeof v === "object" && "$b64" in v
    ? Uint8Array.from(atob(String((v as { $b64: string }).$b64)), (c) => c.charCodeAt(0))
    : v;
export const toJson = (v: unknown) => JSON.stringify(v, replacer);
export const fromJson = <T>(s: string | null): T | undefined =>
  s ? (JSON.parse(s, reviver) as T) : undefined;
