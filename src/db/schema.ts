import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { KeepaliveSettings } from "../mqtt/session/keepalive";

/** Times are milliseconds since the epoch (as the seeds' createAt / addTime). */
const now = sql`(cast(unixepoch('subsec') * 1000 as integer))`;

/** A tenant (CONTRACT §0). The master secret is stored AES-GCM encrypted with CREDENTIALS_KEY. */
export const apps = sqliteTable("apps", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  appkey: text("appkey").notNull().unique(),
  /** base64(iv || ciphertext); null until a secret is issued (the built-in app starts without one). */
  masterSecretEnc: text("master_secret_enc"),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  legacyToken: integer("legacy_token", { mode: "boolean" }).notNull().default(true),
  iosPayloadLimit: integer("ios_payload_limit").notNull().default(4096),
  androidPayloadLimit: integer("android_payload_limit").notNull().default(4096),
  pushRateLimit: integer("push_rate_limit").notNull().default(100),
  /** MQTT keepalive policy (JSON `KeepaliveSettings`, docs/mqtt.md); null: the clients' own values. */
  mqttKeepalive: text("mqtt_keepalive", { mode: "json" }).$type<KeepaliveSettings>(),
  /** Adds `msg_id` to JSON-object MQTT bodies (CONTRACT §2 "Delivery truth"). */
  embedMsgId: integer("embed_msg_id", { mode: "boolean" }).notNull().default(false),
  /** Where delivery webhooks are POSTed; null: none. */
  callbackUrl: text("callback_url"),
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
});

export type AppRow = typeof apps.$inferSelect;

/** Technician accounts (seed 001). */
export const technicians = sqliteTable(
  "technicians",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    phone: text("phone").notNull().unique(),
    /** `pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>`; never returned. */
    passwordHash: text("password_hash").notNull(),
    name: text("name"),
    gender: text("gender"),
    avatar: text("avatar"),
    idNo: text("id_no"),
    idPhoto: text("id_photo"),
    bank: text("bank"),
    bankAddress: text("bank_address"),
    bankCardNo: text("bank_card_no"),
    verifyAt: integer("verify_at"),
    requestVerifyAt: integer("request_verify_at"),
    verifyMsg: text("verify_msg"),
    lastLoginAt: integer("last_login_at"),
    lastLoginIp: text("last_login_ip"),
    createAt: integer("create_at").notNull().default(now),
    skill: text("skill"),
    pushId: text("push_id"),
    reference: text("reference"),
    filmLevel: integer("film_level").notNull().default(0),
    filmWorkingSeniority: integer("film_working_seniority").notNull().default(0),
    carCoverLevel: integer("car_cover_level").notNull().default(0),
    carCoverWorkingSeniority: integer("car_cover_working_seniority").notNull().default(0),
    colorModifyLevel: integer("color_modify_level").notNull().default(0),
    colorModifyWorkingSeniority: integer("color_modify_working_seniority").notNull().default(0),
    beautyLevel: integer("beauty_level").notNull().default(0),
    beautyWorkingSeniority: integer("beauty_working_seniority").notNull().default(0),
    resume: text("resume"),
    star: integer("star").notNull().default(0),
    voteRate: integer("vote_rate").notNull().default(0),
    /** NEWLY_CREATED | IN_VERIFICATION | VERIFIED | REJECTED (the certification state). */
    status: text("status").notNull().default("NEWLY_CREATED"),
    /**
     * Banned by the admin (POST /api/admin/technicians/:id/ban): no login, no pushes, shown as
     * status BANNED (seed 001); unbanning shows the certification state again.
     */
    banned: integer("banned", { mode: "boolean" }).notNull().default(false),
    /** Consecutive failed logins and the lock they caused (login rate limit). */
    failedLogins: integer("failed_logins").notNull().default(0),
    lockedUntil: integer("locked_until"),
  },
  (t) => [index("technicians_name_idx").on(t.name), index("technicians_status_idx").on(t.status)],
);

export type TechnicianRow = typeof technicians.$inferSelect;

/** One row per live login; a JWT is valid only while its session row exists. */
export const technicianSessions = sqliteTable(
  "technician_sessions",
  {
    id: text("id").primaryKey(),
    technicianId: integer("technician_id")
      .notNull()
      .references(() => technicians.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull().default(now),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("technician_sessions_tech_idx").on(t.technicianId)],
);

/** The current SMS code of a phone: one per phone, replaced by the next request. */
export const smsCodes = sqliteTable("sms_codes", {
  phone: text("phone").primaryKey(),
  code: text("code").notNull(),
  sentAt: integer("sent_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
  tries: integer("tries").notNull().default(0),
});

/** Every accepted location report; the newest is the technician's last location. */
export const technicianLocations = sqliteTable(
  "technician_locations",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    technicianId: integer("technician_id")
      .notNull()
      .references(() => technicians.id, { onDelete: "cascade" }),
    lng: real("lng").notNull(),
    lat: real("lat").notNull(),
    province: text("province").notNull(),
    city: text("city").notNull(),
    district: text("district"),
    street: text("street"),
    streetNumber: text("street_number"),
    reportedAt: integer("reported_at").notNull(),
  },
  (t) => [uniqueIndex("technician_locations_tech_time_idx").on(t.technicianId, t.reportedAt)],
);

/** Groups / organisation units of an app (CONTRACT §2), a tree through `parent_id`. */
export const groups = sqliteTable(
  "groups",
  {
    appId: integer("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    groupId: text("group_id").notNull(),
    name: text("name"),
    parentId: text("parent_id"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.appId, t.groupId] }), index("groups_parent_idx").on(t.appId, t.parentId)],
);

/** Group membership: the source of truth the hubs follow. */
export const groupMembers = sqliteTable(
  "group_members",
  {
    appId: integer("app_id").notNull(),
    groupId: text("group_id").notNull(),
    userId: text("user_id").notNull(),
    addedAt: integer("added_at").notNull().default(now),
  },
  (t) => [
    primaryKey({ columns: [t.appId, t.groupId, t.userId] }),
    index("group_members_user_idx").on(t.appId, t.userId),
  ],
);

/** Devices registered by partners (CONTRACT §2 `POST /psp/devices`). */
export const devices = sqliteTable(
  "devices",
  {
    appId: integer("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    deviceToken: text("device_token").notNull(),
    /** ios | android */
    platform: text("platform").notNull(),
    /** apns | getui | fcm */
    provider: text("provider").notNull(),
    userId: text("user_id"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.appId, t.deviceToken] }), index("devices_user_idx").on(t.appId, t.userId)],
);

/** Test devices (`production_mode=false` pushes go only to these), marked before or after registration. */
export const testDevices = sqliteTable(
  "test_devices",
  {
    appId: integer("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    deviceToken: text("device_token").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.appId, t.deviceToken] })],
);

/** Provider credentials of an app, AES-GCM encrypted with CREDENTIALS_KEY. */
export const appCredentials = sqliteTable(
  "app_credentials",
  {
    appId: integer("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    /** apns | getui | fcm */
    provider: text("provider").notNull(),
    dataEnc: text("data_enc").notNull(),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.appId, t.provider] })],
);

/**
 * A push task (seed 003 `task_id`): the task index. Its per-target records (msg_id, state,
 * events) and every number of its status live in the task's TaskHub (docs/design/delivery-truth.md).
 */
export const tasks = sqliteTable(
  "tasks",
  {
    id: text("id").primaryKey(),
    appId: integer("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    /** msg | config */
    kind: text("kind").notNull(),
    /** unicast | listcast | groupcast | broadcast | customizedcast */
    type: text("type").notNull(),
    /** scheduled | queued | sending | done | failed | cancelled | expired */
    status: text("status").notNull(),
    /** The validated request, as JSON (targeting, payload, policy). */
    request: text("request").notNull(),
    productionMode: integer("production_mode", { mode: "boolean" }).notNull().default(true),
    startAt: integer("start_at"),
    expireAt: integer("expire_at"),
    outBizNo: text("out_biz_no"),
    createdAt: integer("created_at").notNull().default(now),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("tasks_out_biz_no_idx").on(t.appId, t.outBizNo),
    index("tasks_app_created_idx").on(t.appId, t.createdAt),
    // The watchdog's sweep: open tasks by status and age.
    index("tasks_status_updated_idx").on(t.status, t.updatedAt),
  ],
);

/** Pushes accepted per app per second (CONTRACT §2 rate limit). */
export const pushRate = sqliteTable(
  "push_rate",
  {
    appId: integer("app_id").notNull(),
    second: integer("second").notNull(),
    count: integer("count").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.appId, t.second] })],
);

/** Orders of the technician app (seed 000). Open = NEWLY_CREATED and not yet taken (mainTechId 0). */
export const orders = sqliteTable(
  "orders",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    orderNum: text("order_num").notNull().unique(),
    orderType: integer("order_type").notNull().default(0),
    photo: text("photo"),
    orderTime: integer("order_time"),
    addTime: integer("add_time").notNull().default(now),
    creatorType: integer("creator_type").notNull().default(0),
    creatorId: integer("creator_id").notNull().default(0),
    creatorName: text("creator_name"),
    contactPhone: text("contact_phone"),
    positionLon: real("position_lon"),
    positionLat: real("position_lat"),
    remark: text("remark"),
    mainTechId: integer("main_tech_id").notNull().default(0),
    secondTechId: integer("second_tech_id").notNull().default(0),
    status: text("status").notNull().default("NEWLY_CREATED"),
  },
  (t) => [index("orders_open_idx").on(t.status, t.mainTechId), index("orders_main_idx").on(t.mainTechId)],
);

export type OrderRow = typeof orders.$inferSelect;

/** Partner invitations on an order (seed 000 §3): answered once. */
export const invitations = sqliteTable(
  "invitations",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    orderId: integer("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    ownerId: integer("owner_id").notNull(),
    partnerId: integer("partner_id").notNull(),
    /** PENDING | ACCEPTED | REJECTED */
    status: text("status").notNull().default("PENDING"),
    createAt: integer("create_at").notNull().default(now),
    answeredAt: integer("answered_at"),
  },
  (t) => [index("invitations_partner_idx").on(t.partnerId)],
);
