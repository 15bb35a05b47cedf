import type { TechnicianRow } from "../db/schema";

/** Seed 001's status code: BANNED while banned, else the certification state. */
export const statusOf = (t: TechnicianRow) => (t.banned ? "BANNED" : t.status);

/** Fields common to every technician shape of seed 001, in the seed's order. */
const head = (t: TechnicianRow) => ({
  id: t.id,
  phone: t.phone,
  name: t.name,
  gender: t.gender,
  avatar: t.avatar,
  idNo: t.idNo,
  idPhoto: t.idPhoto,
  bank: t.bank,
  bankAddress: t.bankAddress,
  bankCardNo: t.bankCardNo,
  verifyAt: t.verifyAt,
  requestVerifyAt: t.requestVerifyAt,
  verifyMsg: t.verifyMsg,
  lastLoginAt: t.lastLoginAt,
  lastLoginIp: t.lastLoginIp,
  createAt: t.createAt,
  skill: t.skill,
  pushId: t.pushId,
});

/** Seed 001 §1/§2: the account as register, login, PUT me and certification answer it. */
export const accountView = (t: TechnicianRow) => ({
  ...head(t),
  reference: t.reference,
  filmLevel: t.filmLevel,
  filmWorkingSeniority: t.filmWorkingSeniority,
  carCoverLevel: t.carCoverLevel,
  carCoverWorkingSeniority: t.carCoverWorkingSeniority,
  colorModifyLevel: t.colorModifyLevel,
  colorModifyWorkingSeniority: t.colorModifyWorkingSeniority,
  beautyLevel: t.beautyLevel,
  beautyWorkingSeniority: t.beautyWorkingSeniority,
  resume: t.resume,
  status: statusOf(t),
});

/**
 * Seed 001 §8: GET me, plus CONTRACT §4's `resume` (set with PUT me). The order statistics are
 * not tracked yet and read null, as in the seed.
 */
export const meView = (t: TechnicianRow) => ({
  ...head(t),
  starRate: null,
  balance: null,
  unpaidOrders: null,
  totalOrders: null,
  commentCount: null,
  resume: t.resume,
  status: statusOf(t),
});

/**
 * Seed 000's technician object (`owner` / `partner`), used for search results and pushes to other
 * technicians. Identity, bank and device fields are private to their owner and always read null here.
 */
export const publicView = (t: TechnicianRow) => ({
  id: t.id,
  phone: t.phone,
  name: t.name,
  gender: t.gender,
  avatar: t.avatar,
  idNo: null,
  idPhoto: null,
  bank: null,
  bankAddress: null,
  bankCardNo: null,
  verifyAt: t.verifyAt,
  lastLoginAt: t.lastLoginAt,
  lastLoginIp: null,
  createAt: t.createAt,
  star: t.star,
  voteRate: t.voteRate,
  skill: t.skill,
  pushId: null,
  statusCode: statusOf(t),
});

/** Seed 001 §9's paging object. */
export const pageOf = <T>(list: T[], page: number, pageSize: number, totalElements: number) => ({
  page,
  totalElements,
  totalPages: Math.ceil(totalElements / pageSize),
  pageSize,
  count: list.length,
  list,
});
