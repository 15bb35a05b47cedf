import { registryOf } from "./app-registry";
import { logHubError } from "./common";
import { type Attachment, type Hub, hubLabel } from "./user-context";

/** Sockets that are open or opening (not yet closed). */
const openCount = (hub: Hub) =>
  hub.ctx
    .getWebSockets()
    .filter((ws) => (ws.deserializeAttachment() as Attachment | null)?.conn.phase !== "closed").length;

/**
 * Keeps the app registry in step with whether this hub has connections: joins before the
 * first upgrade is accepted (answering false when the app is disabled), leaves after the last
 * connection closed. Steps run one after another, each deciding from the state at its turn,
 * so a join and a leave racing never leave the registry wrong.
 */
export function syncRegistry(hub: Hub): Promise<boolean> {
  const step = hub.registry.then(async () => {
    const who = hub.who;
    if (!who) return true;
    const want = hub.opening > 0 || openCount(hub) > 0;
    const have = hub.store.getMeta("registered") === "1";
    if (want === have) return true;
    const registry = registryOf(hub.env, who.app, who.id);
    if (want) {
      if (!(await registry.join(who.app, who.id))) return false;
    } else {
      await registry.leave(who.app, who.id);
    }
    hub.store.setMeta("registered", want ? "1" : "0");
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
