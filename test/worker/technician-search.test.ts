import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { PUBLIC_FIELDS } from "../helpers/seed-fields";
import { registerTechnician, setTechColumns, T, type Tech, techRow } from "../helpers/technicians";

type Page = {
  page: number;
  totalElements: number;
  totalPages: number;
  pageSize: number;
  count: number;
  list: Record<string, unknown>[];
};

const search = (token: string, params: Record<string, string>) =>
  callJson<{ status: boolean; message: Page }>(`${T}?${new URLSearchParams(params)}`, { token });

/** A name fragment no other test uses. */
const uniqueName = () => `搜${crypto.randomUUID().slice(0, 8)}`;

/** Registers `n` technicians named `<base>-<i>`, in id order. */
const named = async (base: string, n: number): Promise<Tech[]> => {
  const out: Tech[] = [];
  for (let i = 0; i < n; i++) {
    const t = await registerTechnician();
    await setTechColumns(t.id, { name: `${base}-${i}` });
    out.push(t);
  }
  return out;
};

describe("GET technician search", () => {
  it("finds one technician by exact phone, with private fields null", async () => {
    const me = await registerTechnician();
    const t = await registerTechnician();
    await setTechColumns(t.id, {
      name: "张三",
      gender: "男",
      id_no: "422302198608266313",
      id_photo: "/uploads/technician/idPhoto/20240101000000000123456.png",
      bank: "工商银行",
      bank_address: "光谷",
      bank_card_no: "6222000011112222",
      push_id: "secret-push-id",
      last_login_ip: "203.0.113.9",
      skill: "1",
      status: "VERIFIED",
    });
    const { status, body } = await search(me.token, { query: t.phone });
    expect(status).toBe(200);
    const row = await techRow(t.id);
    expect(body).toStrictEqual({
      status: true,
      message: {
        page: 1,
        totalElements: 1,
        totalPages: 1,
        pageSize: 20,
        count: 1,
        list: [
          {
            id: t.id,
            phone: t.phone,
            name: "张三",
            gender: "男",
            avatar: null,
            idNo: null,
            idPhoto: null,
            bank: null,
            bankAddress: null,
            bankCardNo: null,
            verifyAt: null,
            lastLoginAt: null,
            lastLoginIp: null,
            createAt: row?.create_at,
            star: 0,
            voteRate: 0,
            skill: "1",
            pushId: null,
            statusCode: "VERIFIED",
          },
        ],
      },
    });
    expect(Object.keys(body.message)).toStrictEqual([
      "page",
      "totalElements",
      "totalPages",
      "pageSize",
      "count",
      "list",
    ]);
    expect(Object.keys(body.message.list[0] ?? {})).toStrictEqual(PUBLIC_FIELDS);
  });

  it("answers an empty page for an unknown phone", async () => {
    const me = await registerTechnician();
    const { body } = await search(me.token, { query: "13000000000" });
    expect(body).toStrictEqual({
      status: true,
      message: { page: 1, totalElements: 0, totalPages: 0, pageSize: 20, count: 0, list: [] },
    });
  });

  it("finds by name (contains) and pages through the results", async () => {
    const me = await registerTechnician();
    const base = uniqueName();
    const ts = await named(base, 3);

    const first = await search(me.token, { query: base, page: "1", pageSize: "2" });
    expect(first.body.status).toBe(true);
    expect(first.body.message).toMatchObject({
      page: 1,
      totalElements: 3,
      totalPages: 2,
      pageSize: 2,
      count: 2,
    });
    expect(first.body.message.list.map((r) => r.id)).toStrictEqual([ts[0]?.id, ts[1]?.id]);
    expect(first.body.message.list.map((r) => r.name)).toStrictEqual([`${base}-0`, `${base}-1`]);

    const second = await search(me.token, { query: base, page: "2", pageSize: "2" });
    expect(second.body.message).toMatchObject({ page: 2, totalElements: 3, totalPages: 2, count: 1 });
    expect(second.body.message.list.map((r) => r.id)).toStrictEqual([ts[2]?.id]);

    const beyond = await search(me.token, { query: base, page: "3", pageSize: "2" });
    expect(beyond.body.message).toStrictEqual({
      page: 3,
      totalElements: 3,
      totalPages: 2,
      pageSize: 2,
      count: 0,
      list: [],
    });

    const middle = await search(me.token, { query: `${base}-1` });
    expect(middle.body.message).toMatchObject({ page: 1, pageSize: 20, totalElements: 1, count: 1 });
    expect(middle.body.message.list[0]).toMatchObject({ id: ts[1]?.id, idNo: null, bank: null });
  });

  it("leaves banned technicians out, by name and by phone", async () => {
    const me = await registerTechnician();
    const base = uniqueName();
    const [kept, banned] = await named(base, 2);
    await setTechColumns(banned?.id ?? 0, { banned: 1 });
    const byName = await search(me.token, { query: base });
    expect(byName.body.message).toMatchObject({ totalElements: 1, count: 1 });
    expect(byName.body.message.list.map((r) => r.id)).toStrictEqual([kept?.id]);
    const byPhone = await search(me.token, { query: banned?.phone ?? "" });
    expect(byPhone.body.message).toMatchObject({ totalElements: 0, count: 0, list: [] });
  });

  it("matches % and _ in a name literally", async () => {
    const me = await registerTechnician();
    const tag = crypto.randomUUID().slice(0, 8);
    const [t] = await named(`折扣100%${tag}`, 1);
    const hit = await search(me.token, { query: `100%${tag}` });
    expect(hit.body.message.list.map((r) => r.id)).toStrictEqual([t?.id]);
    const miss = await search(me.token, { query: `1_0%${tag}` });
    expect(miss.body.message).toMatchObject({ totalElements: 0, list: [] });
  });

  it.each<Record<string, string>>([{}, { query: "" }, { query: "   " }])(
    "answers query不能为空 for %j",
    async (params) => {
      const me = await registerTechnician();
      const { status, body } = await search(me.token, params);
      expect(status).toBe(200);
      expect(body).toStrictEqual({ status: false, message: "query不能为空" });
    },
  );

  it.each([
    [{ page: "0" }, "page格式错误"],
    [{ pageSize: "101" }, "pageSize格式错误"],
    [{ page: "x", pageSize: "0" }, "page格式错误,pageSize格式错误"],
  ])("refuses paging %j", async (params, message) => {
    const me = await registerTechnician();
    const { body } = await search(me.token, { query: "张", ...params });
    expect(body).toStrictEqual({ status: false, message });
  });

  it("needs a login", async () => {
    const t = await registerTechnician();
    const { status, body } = await callJson(`${T}?query=${t.phone}`);
    expect(status).toBe(401);
    expect(body).toStrictEqual({ status: false, message: "未登录" });
  });
});
