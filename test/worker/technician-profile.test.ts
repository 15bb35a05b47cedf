import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { ME_FIELDS } from "../helpers/seed-fields";
import { registerTechnician, setTechColumns, T, techRow } from "../helpers/technicians";

const putMe = (token: string, json: Record<string, unknown>) =>
  callJson<{ status: boolean; message: Record<string, unknown> | string }>(`${T}/me`, {
    method: "PUT",
    json,
    token,
  });
const certify = (token: string, json: Record<string, unknown> = {}) =>
  callJson<{ status: boolean; message: Record<string, unknown> | string }>(`${T}/certification`, {
    json,
    token,
  });

describe("GET me", () => {
  it("answers exactly seed 001 §8's fields", async () => {
    const t = await registerTechnician();
    await setTechColumns(t.id, { name: "张三", bank: "工商银行", skill: "1" });
    const { status, body } = await callJson<{ status: boolean; message: Record<string, unknown> }>(
      `${T}/me`,
      { token: t.token },
    );
    expect(status).toBe(200);
    expect(Object.keys(body)).toStrictEqual(["status", "message"]);
    expect(Object.keys(body.message)).toStrictEqual(ME_FIELDS);
    const row = await techRow(t.id);
    expect(body).toStrictEqual({
      status: true,
      message: {
        ...Object.fromEntries(ME_FIELDS.map((f) => [f, null])),
        id: t.id,
        phone: t.phone,
        name: "张三",
        bank: "工商银行",
        skill: "1",
        createAt: row?.create_at,
        status: "NEWLY_CREATED",
      },
    });
  });

  it("needs a login", async () => {
    const { status, body } = await callJson(`${T}/me`);
    expect(status).toBe(401);
    expect(body).toStrictEqual({ status: false, message: "未登录" });
  });
});

describe("PUT me", () => {
  it("updates the profile fields in D1 and answers the account", async () => {
    const t = await registerTechnician();
    const { status, body } = await putMe(t.token, {
      name: " 李四 ",
      gender: "男",
      idNo: "42230219860826631x",
      bank: "工商银行",
      bankAddress: "光谷",
      bankCardNo: "6222 0000 1111 2222",
      skill: "1,2",
      resume: "十年经验",
      filmLevel: 3,
      filmWorkingSeniority: "5",
      beautyLevel: 100,
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: true,
      message: {
        id: t.id,
        name: "李四",
        gender: "男",
        idNo: "42230219860826631X",
        bank: "工商银行",
        bankAddress: "光谷",
        bankCardNo: "6222000011112222",
        skill: "1,2",
        resume: "十年经验",
        filmLevel: 3,
        filmWorkingSeniority: 5,
        carCoverLevel: 0,
        beautyLevel: 100,
        status: "NEWLY_CREATED",
      },
    });
    expect(await techRow(t.id)).toMatchObject({
      name: "李四",
      gender: "男",
      id_no: "42230219860826631X",
      bank: "工商银行",
      bank_address: "光谷",
      bank_card_no: "6222000011112222",
      skill: "1,2",
      resume: "十年经验",
      film_level: 3,
      film_working_seniority: 5,
      beauty_level: 100,
    });

    // Only the fields sent change; "" clears a text field.
    expect((await putMe(t.token, { bank: "", filmLevel: "7" })).body.status).toBe(true);
    expect(await techRow(t.id)).toMatchObject({ name: "李四", bank: null, film_level: 7, beauty_level: 100 });
  });

  it("keeps resume (CONTRACT §4) and GET me shows it", async () => {
    const t = await registerTechnician();
    expect((await putMe(t.token, { resume: "十年贴膜经验" })).body).toMatchObject({
      status: true,
      message: { resume: "十年贴膜经验" },
    });
    const { body } = await callJson<{ message: Record<string, unknown> }>(`${T}/me`, { token: t.token });
    expect(body.message.resume).toBe("十年贴膜经验");
    expect((await putMe(t.token, { resume: "" })).body.status).toBe(true);
    const cleared = await callJson<{ message: Record<string, unknown> }>(`${T}/me`, { token: t.token });
    expect(cleared.body.message.resume).toBeNull();
  });

  it("accepts a form body", async () => {
    const t = await registerTechnician();
    const { body } = await callJson(`${T}/me`, { method: "PUT", form: { name: "王五" }, token: t.token });
    expect(body).toMatchObject({ status: true, message: { name: "王五" } });
    expect((await techRow(t.id))?.name).toBe("王五");
  });

  it("answers 身份证号格式错误 and changes nothing", async () => {
    const t = await registerTechnician();
    const { status, body } = await putMe(t.token, { name: "赵六", idNo: "12345" });
    expect(status).toBe(200);
    expect(body).toStrictEqual({ status: false, message: "身份证号格式错误" });
    expect(await techRow(t.id)).toMatchObject({ name: null, id_no: null });
  });

  it.each([
    [{ filmLevel: 101 }, "filmLevel格式错误"],
    [{ carCoverLevel: -1 }, "carCoverLevel格式错误"],
    [{ beautyWorkingSeniority: "abc" }, "beautyWorkingSeniority格式错误"],
    [{ filmLevel: null }, "filmLevel格式错误"],
    [{ filmLevel: "" }, "filmLevel格式错误"],
    [{ carCoverLevel: true }, "carCoverLevel格式错误"],
    [{ beautyLevel: "0x10" }, "beautyLevel格式错误"],
    [{ idNo: "1", colorModifyLevel: 1.5 }, "身份证号格式错误,colorModifyLevel格式错误"],
    [{ name: 123 }, "姓名格式错误"],
    [{ bankCardNo: 6222000011112222 }, "银行卡号格式错误"],
    [{ bankCardNo: "6222-abc" }, "银行卡号格式错误"],
    [{ gender: { a: 1 }, name: "x".repeat(33) }, "姓名不能超过32个字符,性别格式错误"],
  ])("refuses %j with %s", async (input, message) => {
    const t = await registerTechnician();
    const { body } = await putMe(t.token, { resume: "不该保存", ...input });
    expect(body).toStrictEqual({ status: false, message });
    expect(await techRow(t.id)).toMatchObject({
      name: null,
      resume: null,
      bank_card_no: null,
      film_level: 0,
      car_cover_level: 0,
      color_modify_level: 0,
    });
  });

  it("a VERIFIED technician cannot change name or idNo, but other fields", async () => {
    const t = await registerTechnician();
    await setTechColumns(t.id, { status: "VERIFIED", name: "张三", id_no: "422302198608266313" });
    for (const input of [{ name: "李四" }, { idNo: "110101199003077777" }, { name: "" }]) {
      expect((await putMe(t.token, input)).body).toStrictEqual({
        status: false,
        message: "已认证的姓名和身份证号不能修改",
      });
    }
    expect(await techRow(t.id)).toMatchObject({ name: "张三", id_no: "422302198608266313" });
    const ok = await putMe(t.token, { name: "张三", bank: "建设银行" });
    expect(ok.body).toMatchObject({ status: true, message: { name: "张三", bank: "建设银行" } });
    expect((await techRow(t.id))?.bank).toBe("建设银行");
  });
});

describe("POST certification", () => {
  it("lists every missing field joined with ','", async () => {
    const t = await registerTechnician();
    const { status, body } = await certify(t.token);
    expect(status).toBe(200);
    expect(body).toStrictEqual({
      status: false,
      message: "姓名不能为空,身份证号不能为空,身份证照片不能为空",
    });
    expect(await techRow(t.id)).toMatchObject({ status: "NEWLY_CREATED", request_verify_at: null });
  });

  it("needs an uploaded ID photo even with name and idNo", async () => {
    const t = await registerTechnician();
    const { body } = await certify(t.token, { name: "张三", idNo: "422302198608266313" });
    expect(body).toStrictEqual({ status: false, message: "身份证照片不能为空" });
    expect(await techRow(t.id)).toMatchObject({ status: "NEWLY_CREATED", name: null, id_no: null });
  });

  it("refuses a malformed idNo", async () => {
    const t = await registerTechnician();
    const { body } = await certify(t.token, { name: "张三", idNo: "abc" });
    expect(body).toStrictEqual({ status: false, message: "身份证号格式错误" });
  });

  it("submits: IN_VERIFICATION and requestVerifyAt set", async () => {
    const t = await registerTechnician();
    await setTechColumns(t.id, {
      id_photo: "/uploads/technician/idPhoto/20240101000000000123456.png",
      status: "REJECTED",
      verify_msg: "照片不清楚",
    });
    const before = Date.now();
    const { body } = await certify(t.token, { name: "张三", idNo: "422302198608266313" });
    const row = await techRow(t.id);
    expect(row).toMatchObject({
      status: "IN_VERIFICATION",
      name: "张三",
      id_no: "422302198608266313",
      verify_msg: null,
    });
    expect(row?.request_verify_at).toBeGreaterThanOrEqual(before);
    expect(row?.request_verify_at).toBeLessThanOrEqual(Date.now());
    expect(body).toMatchObject({
      status: true,
      message: {
        id: t.id,
        name: "张三",
        idNo: "422302198608266313",
        status: "IN_VERIFICATION",
        requestVerifyAt: row?.request_verify_at,
        verifyMsg: null,
      },
    });
  });

  it("uses the name and idNo already in the profile", async () => {
    const t = await registerTechnician();
    await putMe(t.token, { name: "钱七", idNo: "110101199003077777" });
    await setTechColumns(t.id, { id_photo: "/uploads/technician/idPhoto/20240101000000000654321.jpg" });
    expect((await certify(t.token)).body).toMatchObject({
      status: true,
      message: { name: "钱七", status: "IN_VERIFICATION" },
    });
    expect((await techRow(t.id))?.status).toBe("IN_VERIFICATION");
  });

  it("refuses a VERIFIED technician", async () => {
    const t = await registerTechnician();
    await setTechColumns(t.id, {
      status: "VERIFIED",
      name: "张三",
      id_no: "422302198608266313",
      id_photo: "/uploads/technician/idPhoto/20240101000000000111111.png",
    });
    expect((await certify(t.token)).body).toStrictEqual({
      status: false,
      message: "已认证通过,无需重复提交",
    });
    expect(await techRow(t.id)).toMatchObject({ status: "VERIFIED", request_verify_at: null });
  });
});
