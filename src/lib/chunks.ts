/** D1 binds at most 100 parameters per statement: long IN lists are queried in chunks of this size. */
export const IN_CHUNK = 90;

/** The list in consecutive parts of at most `size` items. */
export const chunks = <T>(list: readonly T[], size = IN_CHUNK): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
};
