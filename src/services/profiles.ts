import { and, asc, count, desc, eq, ne, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { type TechnicianRow, technicianLocations, technicians } from "../db/schema";
import { accountFail } from "../errors";
import { PHONE } from "../lib/ids";
import type { ProfileInput } from "../routes/technician/schemas";
import { pageOf, publicView } from "./technician-view";

/** CONTRACT §4: PUT me. A VERIFIED technician's name and ID number are what was verified: they stay. */
export const updateProfile = async (
  db: Db,
  t: TechnicianRow,
  input: ProfileInput,
): Promise<TechnicianRow> => {
  const changesIdentity =
    (input.name !== undefined && input.name !== t.name) ||
    (input.idNo !== undefined && input.idNo !== t.idNo);
  if (t.status === "VERIFIED" && changesIdentity) throw accountFail("已认证的姓名和身份证号不能修改");
  const set = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  if (Object.keys(set).length === 0) return t;
  const [row] = await db.update(technicians).set(set).where(eq(technicians.id, t.id)).returning();
  return row ?? t;
};

/** CONTRACT §4: submit for verification; needs name, idNo and an uploaded idPhoto. */
export const submitCertification = async (
  db: Db,
  t: TechnicianRow,
  input: Pick<ProfileInput, "name" | "idNo">,
): Promise<TechnicianRow> => {
  if (t.status === "VERIFIED") throw accountFail("已认证通过,无需重复提交");
  const name = input.name ?? t.name;
  const idNo = input.idNo ?? t.idNo;
  const missing = [
    name ? null : "姓名不能为空",
    idNo ? null : "身份证号不能为空",
    t.idPhoto ? null : "身份证照片不能为空",
  ].filter((m): m is string => m !== null);
  if (missing.length > 0) throw accountFail(missing.join(","));
  const [row] = await db
    .update(technicians)
    .set({ name, idNo, status: "IN_VERIFICATION", requestVerifyAt: Date.now(), verifyMsg: null })
    .where(and(eq(technicians.id, t.id), ne(technicians.status, "VERIFIED")))
    .returning();
  if (!row) throw accountFail("已认证通过,无需重复提交");
  return row;
};

/** `%` and `_` match themselves in a name search. */
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (ch) => `\\${ch}`);

/** Seed 001 §9: an exact phone, or a name (contains, paged). Banned accounts are not listed. */
export const searchTechnicians = async (db: Db, query: string, page: number, pageSize: number) => {
  const visible = eq(technicians.banned, false);
  if (PHONE.test(query)) {
    const row = await db.query.technicians.findFirst({ where: and(eq(technicians.phone, query), visible) });
    const list = row ? [publicView(row)] : [];
    return pageOf(list, 1, pageSize, list.length);
  }
  const where = and(visible, sql`${technicians.name} LIKE ${`%${escapeLike(query)}%`} ESCAPE '\\'`);
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(technicians)
      .where(where)
      .orderBy(asc(technicians.id))
      .limit(pageSize)
      .offset((page - 1) * pageSize),
    db.select({ n: count() }).from(technicians).where(where),
  ]);
  return pageOf(rows.map(publicView), page, pageSize, total?.n ?? 0);
};

/** One accepted report per technician per minute. */
export const LOCATION_INTERVAL_MS = 60 * 1000;

export type LocationInput = {
  lng: number;
  lat: number;
  province: string;
  city: string;
  district: string | null;
  street: string | null;
  streetNumber: string | null;
};

/**
 * Seed 001 §10: stores the report in the history unless one was accepted in the last minute
 * (one statement, so two reports racing cannot both pass). Returns false when refused.
 */
export const reportLocation = async (db: Db, technicianId: number, loc: LocationInput): Promise<boolean> => {
  const now = Date.now();
  // Written out by hand: drizzle renders an embedded query as `((select …))`, and SQLite refuses
  // `EXISTS ((select …))` as a syntax error.
  const result = await db.run(sql`
    INSERT INTO technician_locations
      (technician_id, lng, lat, province, city, district, street, street_number, reported_at)
    SELECT ${technicianId}, ${loc.lng}, ${loc.lat}, ${loc.province}, ${loc.city}, ${loc.district},
           ${loc.street}, ${loc.streetNumber}, ${now}
    WHERE NOT EXISTS (
      SELECT 1 FROM technician_locations
      WHERE technician_id = ${technicianId} AND reported_at > ${now - LOCATION_INTERVAL_MS}
    )`);
  return result.meta.changes === 1;
};

/** The newest accepted location report, or undefined. */
export const lastLocation = (db: Db, technicianId: number) =>
  db.query.technicianLocations.findFirst({
    where: eq(technicianLocations.technicianId, technicianId),
    orderBy: desc(technicianLocations.reportedAt),
  });
