import { registryOf } from "./app-registry";
import { logHubError } from "./common";
import { type Hub, hubLabel, peekAttachment } from "./user-context";

/** Sockets that are open or opening (not yet closed). */
const openCount = (hub: Hub) =>
  hub.ctx.getWebSockets().filter((ws) => peekAttachment(ws)?.conn.phase !== "closed").length;

type Registered = "live" | "stored" | "none";
/** What the registry should say of this hub: connections, only stored sessions, or nothing. */
const wanted = (hub: Hub): Registered =>
  hub.opening > 0 || openCount(hub) > 0 ? "live" : hub.store.sessions.count() > 0 ? "stored" : "none";
/** `registered` meta; "1" / "0" from before stored sessions were listed. */
const registeredAs = (hub: Hub): Registered => {
  const v = hub.store.getMeta("registered");
  return v === "1" ? "live" : v === "live" || v === "stored" ? v : "none";
};

/**
 * Keeps the app registry in step with this hub's connections and sessions: joins before the
 * first upgrade is accepted (answering false when the app is disabled), parks after the last
 * connection closed with a persistent session left, leaves when no session is left. Steps run
 * one after another, each deciding from the state at its turn, so a join and a leave racing
 * never leave the registry wrong.
 */
export function syncRegistry(hub: Hub): Promise<boolean> {
  const step = hub.registry.then(async () => {
    const who = hub.who;
    if (!who) return true;
    const want = wanted(hub);
    if (want === registeredAs(hub)) return true;
    const registry = registryOf(hub.env, who.app, who.id);
    if (want === "live") {
      if (!(await registry.join(who.app, who.id))) return false;
    } else if (want === "stored") {
      await registry.park(who.app, who.id);
    } else {
      await registry.leave(who.app, who.id);
    }
    hub.store.setMeta("registered", want);
    return true;
  });
  hub.registry = step.catch(() => false);
  return step;
}

/** After a connection ended: leaves the registry if it was the last one (failures are logged). */
export async function leaveIfIdle(hub: Hub): Promise<void> {
  try {
    await syncRegistry(hub);
  } catch (err) {
    logHubError(hubLabel(hub), "registry leave", err);
  }
}
