import { channelOf } from "../mqtt/topics";
import { type Attachment, type Hub, readAttachment, send } from "./user-context";
import { closeSocket } from "./user-lifecycle";

/** MQTT 5 DISCONNECT reason 0x98, Administrative action. */
const ADMINISTRATIVE_ACTION = 0x98;

/**
 * Which of an identity's connections an operator action ends: all of them, those of one
 * technician session (`sid`), all but one session (`exceptSid`, a password change keeps the
 * caller's), or one client id (a kick). `tokens` also revokes every token issued so far; `kick`
 * keeps the wills (a kicked client's Will goes out as after any server-side close).
 */
export type RevokeScope = {
  tokens?: boolean;
  sid?: string;
  exceptSid?: string;
  clientId?: string;
  kick?: boolean;
};

/** The identity's token generation: MQTT tokens of an older one are refused at the upgrade. */
export const tokenGeneration = (hub: Hub): number => Number(hub.store.getMeta("token_gen") ?? 0);

const matches = (att: Attachment, s: RevokeScope): boolean =>
  (s.sid === undefined || att.sid === s.sid) &&
  (s.exceptSid === undefined || att.sid !== s.exceptSid) &&
  (s.clientId === undefined || (att.conn.phase === "connected" && att.conn.clientId === s.clientId));

/**
 * Ends the connections `scope` names: 5.0 clients get DISCONNECT 0x98, every one is closed.
 * Unless it is a kick, their wills are discarded first (rights that end leave nothing behind),
 * and, when the whole identity is revoked, its delayed wills too. Answers how many were closed.
 */
export async function revoke(hub: Hub, scope: RevokeScope): Promise<{ closed: number; generation: number }> {
  if (scope.tokens) hub.store.setMeta("token_gen", tokenGeneration(hub) + 1);
  const whole = scope.sid === undefined && scope.exceptSid === undefined && scope.clientId === undefined;
  if (whole && !scope.kick) hub.store.conns.dropWillsWhere(() => true);
  let closed = 0;
  for (const ws of hub.ctx.getWebSockets()) {
    const att = readAttachment(ws);
    if (!att || att.conn.phase === "closed" || !matches(att, scope)) continue;
    if (!scope.kick) hub.store.conns.dropWillOf(att.connId);
    if (att.conn.phase === "connected" && att.conn.version === 5)
      send(hub, ws, att.conn, { type: "disconnect", reasonCode: ADMINISTRATIVE_ACTION });
    await closeSocket(hub, ws, 1008, "administrative action");
    closed += 1;
  }
  return { closed, generation: tokenGeneration(hub) };
}

/** A member left `groupId`: its wills aimed at the group are discarded. */
export function dropGroupWills(hub: Hub, groupId: string): void {
  const app = hub.who?.app ?? "";
  hub.store.conns.dropWillsWhere((topic) => {
    const ch = channelOf(app, topic);
    return ch.kind === "group" && ch.id === groupId;
  });
}
