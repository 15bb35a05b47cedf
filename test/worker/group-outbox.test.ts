import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { groupHub, userHub } from "../../src/hubs/common";
import { DIRECT_MEMBERS, GroupOutbox, OUTBOX_DELIVERIES, type Owed } from "../../src/hubs/group-outbox";

// A client's QoS 1 message to a group is taken by the GroupHub before the publisher's
// PUBACK (test/e2e/restart.test.ts shows a restart in between loses nothing): a small group's
// is handed to the member hubs first and written only for those that failed, a large group's
// (or one with messages queued ahead) is stored in the outbox and deleted once every member
// hub took it. A member hub that fails is retried by the object's alarm; the fault
// hook (src/hubs/faults.ts, on only under TEST_HOOKS) makes a real UserHub's `deliver` throw.

const message = (n: number, qos: 0 | 1 = 1) => ({
  topic: "a/group/g/chat",
  payload: new TextEncoder().encode(String(n)),
  qos,
  retain: false,
});

let seq = 0;
const group = async (members: string[]) => {
  seq += 1;
  const app = `outbox${seq}`;
  const hub = groupHub(env, app, "g");
  for (const m of members) await hub.addSubscriber(app, "g", m);
  return { app, hub };
};

const until = async (ok: () => Promise<boolean>, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
};

describe("GroupHub outbox", () => {
  it("keeps a message until a failing member hub takes it (retried with backoff by the alarm)", async () => {
    const { app, hub } = await group(["u1", "u2"]);
    await userHub(env, { app, id: "u1" }).injectFault("deliver", 2);
    await hub.accept(app, "g", message(1));
    // First try and first retry fail: the row waits for u1.
    await new Promise((r) => setTimeout(r, 300));
    expect(await hub.backlog()).toBe(1);
    // The second retry (about 1 s + 2 s later) succeeds; only then is the row gone.
    expect(await until(async () => (await hub.backlog()) === 0, 10_000)).toBe(true);
  }, 15_000);

  it("holds every later message for a member whose hub keeps failing, and sends them once it recovers", async () => {
    const { app, hub } = await group(["u1", "u2"]);
    const u1 = userHub(env, { app, id: "u1" });
    await u1.injectFault("deliver", 1000);
    for (let n = 1; n <= 3; n++) await hub.accept(app, "g", message(n));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await hub.backlog()).toBe(3);
    await u1.injectFault("deliver", 0);
    expect(await until(async () => (await hub.backlog()) === 0, 10_000)).toBe(true);
  }, 15_000);

  it("a QoS 0 message is fanned out without a row", async () => {
    const { app, hub } = await group(["u1"]);
    await userHub(env, { app, id: "u1" }).injectFault("deliver", 1000);
    await hub.accept(app, "g", message(1, 0));
    await new Promise((r) => setTimeout(r, 300));
    expect(await hub.backlog()).toBe(0);
  });

  it("a GroupHub that cannot take the message answers an error (the publisher gets no PUBACK)", async () => {
    const { app, hub } = await group(["u1"]);
    await hub.injectFault("accept", 1);
    const err = await hub.accept(app, "g", message(1)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(err)).toContain("injected fault in accept");
    expect(await hub.backlog()).toBe(0);
  });
});

describe("GroupOutbox back-pressure", () => {
  it("holds a publisher's message while OUTBOX_DELIVERIES deliveries wait, and takes it once they are handed over", async () => {
    // The outbox on its own, on a real object's SQLite (a ReplayGuard's: its alarm never reads
    // an outbox), with a fan-out the test finishes by hand.
    const stub = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName("outbox-back-pressure"));
    await runInDurableObject(stub, async (_, state) => {
      const handedOver: (() => void)[] = [];
      const members = Math.ceil(OUTBOX_DELIVERIES / 2) + 1; // two messages are over the bound
      const outbox = new GroupOutbox(
        state.storage.sql,
        state.storage,
        "test",
        () => [{ user: "u1", shares: [] }],
        () => new Promise<Owed[]>((r) => handedOver.push(() => r([]))),
        () => members,
      );
      await outbox.add("a", message(1)); // always taken
      let second = false;
      const adding = outbox.add("a", message(2)).then(() => {
        second = true;
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(second).toBe(false); // its PUBACK would wait
      expect(outbox.size()).toBe(1);
      handedOver.shift()?.(); // the first message reached every member hub
      await adding;
      expect(second).toBe(true);
      expect(outbox.size()).toBe(1);
      await new Promise((r) => setTimeout(r, 0));
      handedOver.shift()?.();
      await new Promise((r) => setTimeout(r, 50));
      expect(outbox.size()).toBe(0);
    });
  });

  it("hands a small group's message to the member hubs before the PUBACK, writing no row; a member that failed is owed it from a row", async () => {
    const stub = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName("outbox-direct"));
    await runInDurableObject(stub, async (_, state) => {
      const calls: { n: string; to: string[]; answer: (failed: Owed[]) => void }[] = [];
      const members: Owed[] = [
        { user: "u1", shares: [] },
        { user: "u2", shares: [] },
      ];
      const outbox = new GroupOutbox(
        state.storage.sql,
        state.storage,
        "test",
        () => members,
        (_app, m, to) =>
          new Promise<Owed[]>((r) =>
            calls.push({ n: new TextDecoder().decode(m.payload), to: to.map((t) => t.user), answer: r }),
          ),
        () => members.length,
      );
      expect(members.length).toBeLessThanOrEqual(DIRECT_MEMBERS);
      let taken = false;
      const adding = outbox.add("a", message(1)).then(() => {
        taken = true;
      });
      await new Promise((r) => setTimeout(r, 50));
      // Handed over at once, nothing written; the PUBACK waits for the member hubs.
      expect(calls.map((c) => [c.n, c.to])).toEqual([["1", ["u1", "u2"]]]);
      expect(outbox.size()).toBe(0);
      expect(taken).toBe(false);
      calls.shift()?.answer([{ user: "u2", shares: [] }]); // u2's hub failed
      await adding;
      expect(taken).toBe(true);
      expect(outbox.size()).toBe(1); // owed to u2
      // With a row in the outbox, the next message is written first and queued behind for u2.
      await outbox.add("a", message(2));
      expect(outbox.size()).toBe(2);
      await new Promise((r) => setTimeout(r, 50));
      expect(calls.map((c) => [c.n, c.to])).toEqual([["2", ["u1"]]]);
      calls.shift()?.answer([]);
      await new Promise((r) => setTimeout(r, 50));
      expect(outbox.size()).toBe(2); // message 2 is owed to u2 too, behind message 1
      // The alarm retries u2 in order: 1, then 2.
      await outbox.alarm();
      await new Promise((r) => setTimeout(r, 50));
      expect(calls.map((c) => [c.n, c.to])).toEqual([
        ["1", ["u2"]],
        ["2", ["u2"]],
      ]);
      for (const c of calls.splice(0)) c.answer([]);
      await new Promise((r) => setTimeout(r, 50));
      expect(outbox.size()).toBe(0);
      await state.storage.deleteAlarm();
    });
  });
});
