import { DurableObject } from "cloudflare:workers";

/**
 * One per `<app>:<user id or imei>`: that identity's MQTT connections, sessions and presence.
 * The MQTT broker lands with the MQTT issue; until then the object answers 501.
 */
export class UserHub extends DurableObject<Env> {
  override async fetch(): Promise<Response> {
    return Response.json({ error: "not_implemented", message: "MQTT is not available yet" }, { status: 501 });
  }
}
