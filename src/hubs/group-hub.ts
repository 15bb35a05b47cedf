import { DurableObject } from "cloudflare:workers";

/**
 * One per `<app>:<group id>`: membership, retained messages and fan-out to member hubs.
 * Lands with the MQTT issue; until then the object answers 501.
 */
export class GroupHub extends DurableObject<Env> {
  override async fetch(): Promise<Response> {
    return Response.json(
      { error: "not_implemented", message: "groups are not available yet" },
      { status: 501 },
    );
  }
}
