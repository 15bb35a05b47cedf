import { type TimeoutEnv, timeoutMs } from "../push/providers/http";

/** Where SMS codes leave the platform (CONTRACT §4). A real SMS vendor plugs in behind this. */
export interface SmsProvider {
  /** Sends `code` to `phone`; throws when the provider did not accept it. */
  send(phone: string, code: string): Promise<void>;
}

/**
 * Local / test provider: POSTs `{phone, code}` as JSON to a webhook. A sink that has not answered
 * within `ms` has failed (the caller answers SMS_SEND_FAILED).
 */
export const webhookProvider = (url: string, ms: number): SmsProvider => ({
  async send(phone, code) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ phone, code }),
      signal: AbortSignal.timeout(ms),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`SMS webhook answered ${res.status}`);
  },
});

/** Development provider: writes the code to the Worker log (opt-in, `SMS_LOG_CODES=true`). */
export const logProvider: SmsProvider = {
  async send(phone, code) {
    console.log(`[sms] code for ${phone}: ${code}`);
  },
};

/** No sink configured: every send fails, so no code is ever issued that nobody can read. */
const noProvider: SmsProvider = {
  async send() {
    throw new Error("no SMS sink: set SMS_WEBHOOK_URL (or SMS_LOG_CODES=true for local development)");
  },
};

/**
 * The webhook when `SMS_WEBHOOK_URL` is set, bounded by the provider timeout
 * (`PROVIDER_TIMEOUT_MS`, 10 s by default: one knob for every outbound call); otherwise the log,
 * but only where `SMS_LOG_CODES` is "true" (`.dev.vars` for `npm start`), so a deployment
 * without an SMS sink never writes codes to its logs.
 */
export const smsProvider = (
  env: { SMS_WEBHOOK_URL?: string; SMS_LOG_CODES?: string } & TimeoutEnv,
): SmsProvider => {
  if (env.SMS_WEBHOOK_URL) return webhookProvider(env.SMS_WEBHOOK_URL, timeoutMs(env));
  return env.SMS_LOG_CODES === "true" ? logProvider : noProvider;
};
