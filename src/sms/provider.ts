/** Where SMS codes leave the platform (CONTRACT §4). A real SMS vendor plugs in behind this. */
export interface SmsProvider {
  /** Sends `code` to `phone`; throws when the provider did not accept it. */
  send(phone: string, code: string): Promise<void>;
}

/** Local / test provider: POSTs `{phone, code}` as JSON to a webhook. */
export const webhookProvider = (url: string): SmsProvider => ({
  async send(phone, code) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ phone, code }),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`SMS webhook answered ${res.status}`);
  },
});

/** Development provider: writes the code to the Worker log (never configure it in production). */
export const logProvider: SmsProvider = {
  async send(phone, code) {
    console.log(`[sms] code for ${phone}: ${code}`);
  },
};

export const smsProvider = (env: { SMS_WEBHOOK_URL?: string }): SmsProvider =>
  env.SMS_WEBHOOK_URL ? webhookProvider(env.SMS_WEBHOOK_URL) : logProvider;
