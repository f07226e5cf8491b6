export const GUARD_BYTES = 8;
