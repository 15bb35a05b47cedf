import { DurableObject } from "cloudflare:workers";
import { countDurableObject } from "../lib/ops";
import type { Message } from "../mqtt/session";
import { logHubError } from "./common";
import { Faults } from "./faults";
import type { Owed } from "./group-outbox";
import { type FanOut, fanOutTo, MemberFanout } from "./member-fanout";

/**
 * One slice of a large group's fan-out. A GroupHub with more subscribers than one invocation
 * should call (RELAY_ABOVE, 5,000 by default; Cloudflare allows 10,000 subrequests per
 * invocation) hands each slice of them to a relay of its own (`<group hub id>:<slice>`), which
 * makes the member calls: a group of 20,000 costs its hub four calls per message. The same
 * slice always goes to the same relay, so each member's messages stay in order. No state but
 * the fault hook; RPC methods log and rethrow.
 */
export class GroupRelay extends DurableObject<Env> {
  private readonly fanout: MemberFanout;
  private readonly faults: Faults;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObject(this, ctx, env, "GroupRelay");
    this.fanout = new MemberFanout(env, "GroupRelay");
    this.faults = new Faults(ctx.storage.sql, env);
  }

  /** Hands a message to each member named: connections reached, members whose hub failed. */
  async fanOut(app: string, m: Message, to: Owed[]): Promise<FanOut> {
    try {
      this.faults.check("fanOut");
      return await fanOutTo(this.fanout, app, m, to);
    } catch (err) {
      logHubError("GroupRelay", "fanOut", err);
      throw err;
    }
  }

  /** Tests only (TEST_HOOKS): makes an RPC method throw its next `times` calls. */
  async injectFault(method: string, times: number): Promise<void> {
    this.faults.arm(method, times);
  }
}

/** Members one invocation hands out itself; above it, relays of this many each (env GROUP_RELAY_ABOVE). */
export const relayAbove = (env: Env): number =>
  Number((env as { GROUP_RELAY_ABOVE?: string }).GROUP_RELAY_ABOVE) || 5_000;

export const groupRelay = (env: Env, hubId: string, slice: number) =>
  env.GROUP_RELAY.get(env.GROUP_RELAY.idFromName(`${hubId}:${slice}`));
