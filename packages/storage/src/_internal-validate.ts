// Argument checks shared by every adapter: wrong use of the API is a TypeError or RangeError,
// thrown here and turned into a rejected promise by the caller.

import type { ReadRequest, WriteRequest } from './storage';

/** Awaitable result: adapters return plain values on their synchronous fast path. */
export type Awaitable<T> = T | Promise<T>;

/** Whether `value` is a promise (or any thenable). */
export function isPromiseLike<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Checks one offset or length: a non-negative safe integer. */
export function checkUint(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
  }
}

/** Checks an (offset, length) pair, including that its end is a safe integer. */
export function checkSpan(offset: unknown, length: unknown, where = ''): void {
  checkUint(offset, `${where}offset`);
  checkUint(length, `${where}length`);
  if (offset + length > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${where}offset + length (${offset} + ${length}) passes Number.MAX_SAFE_INTEGER`);
  }
}

/** Checks that `data` is a Uint8Array (a Buffer is one). */
export function checkBytes(data: unknown, where = ''): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(`${where}data must be a Uint8Array, got ${describe(data)}`);
  }
}

/** Checks a batch of reads. */
export function checkReadRequests(requests: unknown): asserts requests is readonly ReadRequest[] {
  if (!Array.isArray(requests)) throw new TypeError(`requests must be an array, got ${describe(requests)}`);
  for (let i = 0; i < requests.length; i++) {
    const r: unknown = requests[i];
    if (typeof r !== 'object' || r === null) throw new TypeError(`requests[${i}] must be an object`);
    const { offset, length, into } = r as Record<string, unknown>;
    checkSpan(offset, length, `requests[${i}].`);
    if (into !== undefined) {
      checkBytes(into, `requests[${i}].into: `);
      if (into.length !== length)
        throw new RangeError(`requests[${i}].into has ${into.length} bytes, the request ${length}`);
    }
  }
}

/** Checks a batch of writes. */
export function checkWriteRequests(requests: unknown): asserts requests is readonly WriteRequest[] {
  if (!Array.isArray(requests)) throw new TypeError(`requests must be an array, got ${describe(requests)}`);
  for (let i = 0; i < requests.length; i++) {
    const r: unknown = requests[i];
    if (typeof r !== 'object' || r === null) throw new TypeError(`requests[${i}] must be an object`);
    const { offset, data } = r as Record<string, unknown>;
    checkBytes(data, `requests[${i}].`);
    checkSpan(offset, data.length, `requests[${i}].`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
