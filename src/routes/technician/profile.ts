import { accountFail, resultFail } from "../../errors";
import { joinedIssues, readParams } from "../../http/body";
import { api, route } from "../../http/openapi";
import {
  reportLocation,
  searchTechnicians,
  submitCertification,
  updateProfile,
} from "../../services/profiles";
import { accountView, meView } from "../../services/technician-view";
import { LOCATION_FIELDS, locationParams, profileParams, searchParams } from "./schemas";
import { requireTechnician } from "./session";

const PROFILE_FIELDS = Object.keys(profileParams.shape);

/** Seed 001 §8–10 and CONTRACT §4's PUT me and certification. Every call needs a login. */
const certificationParams = profileParams.pick({ name: true, idNo: true });

export const profile = api();
route(
  profile,
  "technician",
  { method: "get", path: "/me", summary: "The logged-in technician" },
  requireTechnician,
  (c) => c.json({ status: true, message: meView(c.var.technician) }),
);
route(
  profile,
  "technician",
  { method: "put", path: "/me", summary: "Update profile fields", body: profileParams },
  requireTechnician,
  async (c) => {
    const parsed = profileParams.safeParse(await readParams(c));
    if (!parsed.success) throw accountFail(joinedIssues(parsed.error, PROFILE_FIELDS));
    const row = await updateProfile(c.var.db, c.var.technician, parsed.data);
    return c.json({ status: true, message: accountView(row) });
  },
);
route(
  profile,
  "technician",
  {
    method: "post",
    path: "/certification",
    summary: "Submit for verification (needs name, idNo, idPhoto): IN_VERIFICATION",
    body: certificationParams,
  },
  requireTechnician,
  async (c) => {
    const parsed = certificationParams.safeParse(await readParams(c));
    if (!parsed.success) throw accountFail(joinedIssues(parsed.error, ["name", "idNo"]));
    const row = await submitCertification(c.var.db, c.var.technician, parsed.data);
    return c.json({ status: true, message: accountView(row) });
  },
);
route(
  profile,
  "technician",
  { method: "get", path: "/", summary: "Search technicians (needs a login)", query: searchParams },
  requireTechnician,
  async (c) => {
    const parsed = searchParams.safeParse(c.req.query());
    if (!parsed.success) throw accountFail(joinedIssues(parsed.error, ["query", "page", "pageSize"]));
    const { query, page, pageSize } = parsed.data;
    if (!query) throw accountFail("query不能为空");
    return c.json({ status: true, message: await searchTechnicians(c.var.db, query, page, pageSize) });
  },
);
route(
  profile,
  "technician",
  {
    method: "post",
    path: "/location",
    summary: "Report the location (at most once a minute)",
    body: locationParams,
    envelope: "result",
  },
  requireTechnician,
  async (c) => {
    const parsed = locationParams.safeParse(await readParams(c));
    if (!parsed.success) throw resultFail("INVALID_PARAMETER", joinedIssues(parsed.error, LOCATION_FIELDS));
    if (!(await reportLocation(c.var.db, c.var.technician.id, parsed.data))) {
      // Seed 001 §10 answers `result: true` here: the client did nothing wrong, it was simply early.
      return c.json({
        result: true,
        message: "请求间隔不得少于1分钟",
        error: "TOO_FREQUENT_REQUEST",
        data: null,
      });
    }
    return c.json({ result: true, message: "", error: "", data: null });
  },
);
