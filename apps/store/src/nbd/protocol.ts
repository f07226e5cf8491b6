// The NBD wire protocol's numbers and the few encoders both ends share: magics, handshake and
// transmission flags, option and reply types, command types and flags, error values, and the
// metadata contexts this server offers. Everything on the wire is big-endian (network order).
//
// The protocol (NetworkBlockDevice/nbd doc/proto.md) in the shape this code speaks it:
//
//   handshake   S: "NBDMAGIC" | "IHAVEOPT" | u16 handshake flags       C: u32 client flags
//   option      C: "IHAVEOPT" | u32 option | u32 length | data
//   opt reply   S: 0x3e889045565a9 | u32 option | u32 reply type | u32 length | data
//   request     C: 0x25609513 | u16 command flags | u16 type | u64 cookie | u64 offset | u32 length
//               | data (NBD_CMD_WRITE only)
//   simple      S: 0x67446698 | u32 error | u64 cookie | data (a successful READ, simple mode)
//   structured  S: 0x668e33ef | u16 flags | u16 type | u64 cookie | u32 length | payload
//
// 64-bit fields are written and read as two 32-bit halves (no BigInt on the hot path); offsets
// above 2^53 cannot name a byte of any volume and are treated as past the end.

/** "NBDMAGIC", the first 8 bytes the server sends. */
export const NBDMAGIC = Buffer.from('NBDMAGIC', 'latin1');
/** "IHAVEOPT": after NBDMAGIC, and before every option the client sends. */
export const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
/** The magic of an option reply (0x0003e889045565a9), as two 32-bit halves. */
export const OPT_REPLY_MAGIC_HI = 0x0003e889;
export const OPT_REPLY_MAGIC_LO = 0x045565a9;
/** The magic of a transmission request. */
export const REQUEST_MAGIC = 0x25609513;
/** The magic of a simple reply. */
export const SIMPLE_REPLY_MAGIC = 0x67446698;
/** The magic of a structured reply chunk. */
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server, 16 bits). */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
/** Client flags (32 bits). */
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

/** Transmission flags (16 bits). */
export const TFLAG = Object.freeze({
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
});

/** Option types. */
export const OPT = Object.freeze({
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
});

/** Option reply types; errors have bit 31 set. */
export const REP = Object.freeze({
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: 0x80000001,
  ERR_POLICY: 0x80000002,
  ERR_INVALID: 0x80000003,
  ERR_PLATFORM: 0x80000004,
  ERR_TLS_REQD: 0x80000005,
  ERR_UNKNOWN: 0x80000006,
  ERR_SHUTDOWN: 0x80000007,
  ERR_BLOCK_SIZE_REQD: 0x80000008,
  ERR_TOO_BIG: 0x80000009,
});

/** The name of an option reply type, for messages. */
export function replyName(type: number): string {
  for (const [name, value] of Object.entries(REP)) if (value === type) return `NBD_REP_${name}`;
  return `reply type 0x${type.toString(16)}`;
}

/** NBD_REP_INFO information types. */
export const INFO = Object.freeze({ EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 });

/** Command types. */
export const CMD = Object.freeze({
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
});

/** Command flags. */
export const CMD_FLAG = Object.freeze({
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
});

/** Structured reply flags and chunk types. */
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE = Object.freeze({
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
});

/** Error values of the transmission phase (the errno values they are named after). */
export const NBD_ERR = Object.freeze({
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
});

/** The name of an error value, for messages. */
export function errorName(value: number): string {
  for (const [name, v] of Object.entries(NBD_ERR)) if (v === value) return name;
  return `error ${value}`;
}

/** base:allocation flags. */
export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;
/** qemu:dirty-bitmap flag. */
export const STATE_DIRTY = 1 << 0;

/** The allocation context, and the prefix of the dirty-bitmap contexts. */
export const BASE_ALLOCATION = 'base:allocation';
export const DIRTY_BITMAP_PREFIX = 'qemu:dirty-bitmap:';

/** Sizes of the fixed parts. */
export const REQUEST_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const STRUCTURED_HEADER_BYTES = 20;
/** The most a string (export name, context name, message) may be, in bytes. */
export const MAX_STRING = 4096;
/** The largest READ or WRITE payload the server accepts (2^25, the protocol's portable bound). */
export const MAX_PAYLOAD = 1 << 25;
/** The default TCP port (IANA). */
export const DEFAULT_PORT = 10809;

/** Writes a 64-bit unsigned number (at most 2^53 - 1) as two big-endian halves. */
export function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x100000000), at);
  buf.writeUInt32BE(value >>> 0, at + 4);
}

/**
 * Reads a 64-bit unsigned number. Values of 2^53 and more come back as `Infinity`: no volume
 * reaches them, so callers treat them as past the end.
 */
export function readU64(buf: Buffer, at: number): number {
  const hi = buf.readUInt32BE(at);
  const lo = buf.readUInt32BE(at + 4);
  if (hi >= 0x200000) return Number.POSITIVE_INFINITY;
  return hi * 0x100000000 + lo;
}

/** An option reply: header and payload in one buffer. */
export function optionReply(option: number, type: number, payload?: Uint8Array): Buffer {
  const n = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(20 + n);
  out.writeUInt32BE(OPT_REPLY_MAGIC_HI, 0);
  out.writeUInt32BE(OPT_REPLY_MAGIC_LO, 4);
  out.writeUInt32BE(option, 8);
  out.writeUInt32BE(type >>> 0, 12);
  out.writeUInt32BE(n, 16);
  if (payload) out.set(payload, 20);
  return out;
}

/** A structured reply chunk header (the payload follows separately). */
export function structuredHeader(cookie: Buffer, flags: number, type: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(STRUCTURED_HEADER_BYTES);
  out.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  out.writeUInt16BE(flags, 4);
  out.writeUInt16BE(type, 6);
  cookie.copy(out, 8, 0, 8);
  out.writeUInt32BE(length, 16);
  return out;
}

/** A simple reply header (READ data follows separately). */
export function simpleReply(cookie: Buffer, error: number): Buffer {
  const out = Buffer.allocUnsafe(SIMPLE_REPLY_BYTES);
  out.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  out.writeUInt32BE(error, 4);
  cookie.copy(out, 8, 0, 8);
  return out;
}

/** UTF-8 bytes of a string, cut (on a character boundary) to at most `max` bytes. */
export function utf8(text: string, max = MAX_STRING): Buffer {
  let b = Buffer.from(text, 'utf8');
  if (b.length <= max) return b;
  let end = max;
  while (end > 0 && ((b[end] as number) & 0xc0) === 0x80) end--;
  b = b.subarray(0, end);
  return b;
}

/**
 * Decodes a protocol string: valid UTF-8 without NUL, at most {@link MAX_STRING} bytes.
 * Returns undefined for anything else.
 */
export function decodeString(bytes: Uint8Array): string | undefined {
  if (bytes.length > MAX_STRING || bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
