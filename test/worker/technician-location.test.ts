import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { registerTechnician, T } from "../helpers/technicians";

const OK = { result: true, message: "", error: "", data: null };
const TOO_EARLY = {
  result: true,
  message: "请求间隔不得少于1分钟",
  error: "TOO_FREQUENT_REQUEST",
  data: null,
};
const invalid = (message: string) => ({ result: false, message, error: "INVALID_PARAMETER", data: null });

const WUHAN = {
  lng: 114.4,
  lat: 30.5,
  province: "湖北省",
  city: "武汉市",
  district: "洪山区",
  street: "软件园中路",
  streetNumber: "25号",
};

type LocationRow = {
  id: number;
  technician_id: number;
  lng: number;
  lat: number;
  province: string;
  city: string;
  district: string | null;
  street: string | null;
  street_number: string | null;
  reported_at: number;
};

const rows = async (technicianId: number) =>
  (
    await env.DB.prepare("SELECT * FROM technician_locations WHERE technician_id = ?1 ORDER BY reported_at")
      .bind(technicianId)
      .all<LocationRow>()
  ).results;

/** Moves a technician's reports back in time by `ms`. */
const ageReports = (technicianId: number, ms: number) =>
  env.DB.prepare("UPDATE technician_locations SET reported_at = reported_at - ?1 WHERE technician_id = ?2")
    .bind(ms, technicianId)
    .run();

const report = (token: string | undefined, json: Record<string, unknown>) =>
  callJson(`${T}/location`, { json, token });

describe("POST location", () => {
  it("stores the report", async () => {
    const t = await registerTechnician();
    const before = Date.now();
    const { status, body } = await report(t.token, WUHAN);
    expect(status).toBe(200);
    expect(body).toStrictEqual(OK);
    const [row, ...more] = await rows(t.id);
    expect(more).toHaveLength(0);
    expect(row).toMatchObject({
      technician_id: t.id,
      lng: 114.4,
      lat: 30.5,
      province: "湖北省",
      city: "武汉市",
      district: "洪山区",
      street: "软件园中路",
      street_number: "25号",
    });
    expect(row?.reported_at).toBeGreaterThanOrEqual(before);
    expect(row?.reported_at).toBeLessThanOrEqual(Date.now());
  });

  it("accepts a form body with only the required fields; numbers as text", async () => {
    const t = await registerTechnician();
    const { body } = await callJson(`${T}/location`, {
      form: { lng: "-73.98", lat: "40.75", province: "湖北省", city: "武汉市" },
      token: t.token,
    });
    expect(body).toStrictEqual(OK);
    expect(await rows(t.id)).toMatchObject([
      { lng: -73.98, lat: 40.75, district: null, street: null, street_number: null },
    ]);
  });

  it("names every missing required field, joined with ','", async () => {
    const t = await registerTechnician();
    const a = await report(t.token, { province: "湖北省", city: "武汉市" });
    expect(a.status).toBe(200);
    expect(a.body).toStrictEqual(invalid("lng不能为空,lat不能为空"));
    const b = await report(t.token, {});
    expect(b.body).toStrictEqual(invalid("lng不能为空,lat不能为空,province不能为空,city不能为空"));
    const c = await report(t.token, { ...WUHAN, city: "  " });
    expect(c.body).toStrictEqual(invalid("city不能为空"));
    expect(await rows(t.id)).toHaveLength(0);
  });

  it.each([
    [{ lng: 181 }, "lng格式错误"],
    [{ lng: "-180.5" }, "lng格式错误"],
    [{ lng: "abc" }, "lng格式错误"],
    [{ lng: "0x10" }, "lng格式错误"],
    [{ lat: "1e1" }, "lat格式错误"],
    [{ lat: 90.1 }, "lat格式错误"],
    [{ lng: 200, lat: -91 }, "lng格式错误,lat格式错误"],
  ])("refuses %j with %s", async (bad, message) => {
    const t = await registerTechnician();
    const { body } = await report(t.token, { ...WUHAN, ...bad });
    expect(body).toStrictEqual(invalid(message));
    expect(await rows(t.id)).toHaveLength(0);
  });

  it("accepts the bounds ±180 / ±90", async () => {
    const t = await registerTechnician();
    expect((await report(t.token, { ...WUHAN, lng: -180, lat: 90 })).body).toStrictEqual(OK);
    expect(await rows(t.id)).toMatchObject([{ lng: -180, lat: 90 }]);
  });

  it("refuses a second report within a minute, then accepts one and keeps the history", async () => {
    const t = await registerTechnician();
    expect((await report(t.token, WUHAN)).body).toStrictEqual(OK);

    const early = await report(t.token, { ...WUHAN, lng: 114.5 });
    expect(early.status).toBe(200);
    expect(early.body).toStrictEqual(TOO_EARLY);
    expect(await rows(t.id)).toMatchObject([{ lng: 114.4 }]);

    // 59 s later it is still too early.
    await ageReports(t.id, 59_000);
    expect((await report(t.token, { ...WUHAN, lng: 114.5 })).body).toStrictEqual(TOO_EARLY);
    expect(await rows(t.id)).toHaveLength(1);

    await ageReports(t.id, 2_000);
    expect((await report(t.token, { ...WUHAN, lng: 114.6, lat: 30.6 })).body).toStrictEqual(OK);
    const history = await rows(t.id);
    expect(history.map((r) => [r.lng, r.lat])).toStrictEqual([
      [114.4, 30.5],
      [114.6, 30.6],
    ]);
    expect((history[1]?.reported_at ?? 0) - (history[0]?.reported_at ?? 0)).toBeGreaterThanOrEqual(61_000);
  });

  it("limits each technician separately", async () => {
    const a = await registerTechnician();
    const b = await registerTechnician();
    expect((await report(a.token, WUHAN)).body).toStrictEqual(OK);
    expect((await report(b.token, WUHAN)).body).toStrictEqual(OK);
    expect(await rows(a.id)).toHaveLength(1);
    expect(await rows(b.id)).toHaveLength(1);
  });

  it("needs a login", async () => {
    const { status, body } = await report(undefined, WUHAN);
    expect(status).toBe(401);
    expect(body).toStrictEqual({ status: false, message: "未登录" });
  });
});
