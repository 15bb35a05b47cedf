import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

const makeDb = (d1: D1Database) => drizzle(d1, { schema });
export type Db = ReturnType<typeof makeDb>;

/**
 * One drizzle client per D1 binding while the isolate lives: building one walks the whole
 * schema (its relational config), which showed in profiles of the push API at every request.
 */
const clients = new WeakMap<D1Database, Db>();
export const createDb = (d1: D1Database): Db => {
  let db = clients.get(d1);
  if (!db) {
    db = makeDb(d1);
    clients.set(d1, db);
  }
  return db;
};
