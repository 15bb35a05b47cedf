import { afterEach, describe, expect, it, vi } from "vitest";
import { smsProvider } from "../../src/sms/provider";

afterEach(() => vi.restoreAllMocks());

describe("smsProvider (CONTRACT §4; codes reach the log only by opt-in)", () => {
  it("without a webhook or SMS_LOG_CODES, refuses to send and logs no code", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    for (const env of [{}, { SMS_WEBHOOK_URL: "", SMS_LOG_CODES: "false" }, { SMS_LOG_CODES: "1" }]) {
      await expect(smsProvider(env).send("13900000000", "123456")).rejects.toThrow(/no SMS sink/);
    }
    expect(log).not.toHaveBeenCalled();
  });

  it('logs the code when SMS_LOG_CODES is "true" (local development)', async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await smsProvider({ SMS_LOG_CODES: "true" }).send("13900000000", "654321");
    expect(log).toHaveBeenCalledWith("[sms] code for 13900000000: 654321");
  });
});
