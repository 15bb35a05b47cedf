/** The one interface every outside push provider (APNs, Getui, FCM) sits behind. */

export type Platform = "ios" | "android";

/** One push to one device through one provider. */
export interface PushJob {
  /** APNs device token (hex), Getui cid or FCM registration token. */
  deviceToken: string;
  platform: Platform;
  /** `display_type=message`: APNs background push, Getui transmission, FCM data-only message. */
  silent: boolean;
  title?: string;
  body?: string;
  /** The JSON data for the app. */
  payload: unknown;
  /** When the provider may stop trying to deliver (ms since the epoch). */
  expiresAt?: number;
  /** APNs `apns-collapse-id` (else the msg_id), FCM `android.collapse_key`. */
  collapseId?: string;
  /**
   * A UUID, the same on every attempt for one task and target (`stablePushId`): APNs `apns-id`,
   * Getui `request_id` (without dashes). FCM has no request id.
   */
  pushId: string;
  /**
   * CONTRACT §2 "Delivery truth": the target's msg_id, the same as on MQTT. APNs: a top-level key
   * beside `aps`; Getui: a key of the JSON data; FCM: a data key.
   */
  msgId?: string;
}

export type SendResult =
  /** `duplicate`: the provider had taken this request id before (an earlier answer was lost). */
  | { ok: true; duplicate?: true }
  | {
      ok: false;
      /** The provider's own reason, e.g. "Unregistered", "BadDeviceToken", "UNREGISTERED", "getui:20001". */
      reason: string;
      /** The device token is dead for good: unregister the device. */
      removeDevice: boolean;
      /** A transient failure: try again later (after `retryAfterS` when the provider said so). */
      retry: boolean;
      retryAfterS?: number;
    };

/** Sends one job with one app's credentials. Never throws: every failure is a `SendResult`. */
export interface PushProvider<C> {
  send(job: PushJob, creds: C): Promise<SendResult>;
}

/** APNs token-based authentication (a .p8 signing key). */
export interface ApnsCredentials {
  team_id: string;
  key_id: string;
  /** The .p8 file's PEM text (PKCS #8, EC P-256). */
  private_key: string;
  /** The app's bundle id: `apns-topic`. */
  topic: string;
  environment: "sandbox" | "production";
}

export interface GetuiCredentials {
  app_id: string;
  app_key: string;
  master_secret: string;
}

export interface FcmCredentials {
  /** The parts of the Google service-account JSON that FCM HTTP v1 needs. */
  service_account: {
    project_id: string;
    client_email: string;
    /** PKCS #8 PEM (RSA). */
    private_key: string;
    token_uri?: string;
  };
}
