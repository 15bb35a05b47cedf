/** Identifier rules of CONTRACT §2. */
export const APP_NAME = /^[a-z][a-z0-9_-]{1,31}$/;
/** User ids, watch imeis and group ids: never `/`, `+`, `#`. */
export const IDENTIFIER = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Mainland China mobile numbers (seed 001's phones). */
export const PHONE = /^1[3-9]\d{9}$/;
