// BucketLock: the one-writer lock of an S3Storage, held as an object in the bucket
// (`PREFIX/lock`), since a bucket has no OS lock to take.
//
// The lock object is a lease: JSON naming a random token, the holder (host and pid), and when the
// lease expires by the holder's clock. The holder renews it every third of the lease.
//
// Acquiring:
// 1. GET the lock. If it exists and its lease is live, refuse (`ERR_LOCKED`), unless `force`.
//    A lease is dead once the reader's clock passes `expires + leaseMs`: one extra lease of grace
//    for clock skew between machines and for a holder that stalled.
// 2. Write our lease: a conditional create (`If-None-Match: *`) when there was none, a conditional
//    replace (`If-Match: <ETag>`) over a dead one. A server that supports conditional writes (AWS
//    S3 since 2024, recent MinIO and Ceph) answers 412 to the loser of a race: `ERR_LOCKED`.
// 3. Find out whether the server honoured the condition: PUT the same bytes again with
//    `If-None-Match: *`. A 412 proves conditional writes work (mode `'conditional'`: the race was
//    settled by the server). A success means the server ignores the header (s3rver, older
//    servers), and rewrote our own bytes, harmlessly (mode `'lease'`).
// 4. In mode `'lease'`, wait a settle delay and GET the lock again: if another writer overwrote
//    it meanwhile, the last writer wins and we refuse (`ERR_LOCKED`).
//
// Holding: `assertHeld()` (called before every upload) fails once the lease is lost (a renewal
// found another token) or ran out by our own clock without a renewal. Renewals in mode
// `'conditional'` use `If-Match` on our last ETag, so a takeover is detected by the server.
// Releasing deletes the object if it still holds our token.
//
// Limits: S3 has no fencing token, so a holder that stalls past its lease (a paused VM) and
// resumes may upload once more before its next check notices; the grace of one lease on takeover
// is what keeps a live holder safe. In mode `'lease'`, two writers that both saw no lock and whose
// read-to-write gaps exceed the settle delay can both believe they won until the next renewal
// (a third of a lease later) tells one of them.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { StorageError } from '@deja/storage';
import type { S3Io } from './_internal-s3';

/** Options of the bucket lock (the `lock` option of {@link S3Storage.open}). */
export interface BucketLockOptions {
  /** Lease length in ms; renewed every third of it. Default 30,000. */
  readonly leaseMs?: number;
  /**
   * Take the lock even if another writer's lease looks live. Only for an operator who knows that
   * writer is dead (a crashed process whose lease has not run out yet). Default `false`.
   */
  readonly force?: boolean;
}

/** How the lock was won: by a conditional write the server enforced, or by a lease alone. */
export type BucketLockMode = 'conditional' | 'lease';

interface LeaseBody {
  format: 'deja-s3-lock';
  version: 1;
  token: string;
  owner: string;
  acquired: number;
  expires: number;
  leaseMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The lock of one store, held in its bucket. See the file comment for the protocol. */
export class BucketLock {
  readonly key: string;
  readonly mode: BucketLockMode;
  readonly leaseMs: number;
  readonly token: string;
  readonly #io: S3Io;
  readonly #owner: string;
  readonly #acquired: number;
  #etag: string | undefined;
  /** By our clock: the lease runs out then unless renewed. */
  #validUntil: number;
  #lost: StorageError | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #renewing: Promise<void> | undefined;
  #released = false;

  private constructor(
    io: S3Io,
    key: string,
    mode: BucketLockMode,
    lease: LeaseBody,
    etag: string | undefined,
    sent: number,
  ) {
    this.#io = io;
    this.key = key;
    this.mode = mode;
    this.leaseMs = lease.leaseMs;
    this.token = lease.token;
    this.#owner = lease.owner;
    this.#acquired = lease.acquired;
    this.#etag = etag;
    this.#validUntil = sent + lease.leaseMs;
    this.#timer = setInterval(() => void this.renew(), Math.max(10, Math.floor(lease.leaseMs / 3)));
    this.#timer.unref();
  }

  /**
   * Takes the lock at `key`. O(1) requests (4 or 5; plus a settle delay in mode `'lease'`).
   * @throws StorageError `ERR_LOCKED` naming the holder and when its lease runs out; `ERR_IO`,
   *   `ERR_PERMISSION`, `ERR_NOT_FOUND` (no bucket).
   */
  static async acquire(io: S3Io, key: string, options: BucketLockOptions = {}): Promise<BucketLock> {
    const leaseMs = options.leaseMs ?? 30_000;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 100) {
      throw new RangeError(`lock.leaseMs must be an integer of at least 100, got ${leaseMs}`);
    }
    const where = io.where(key);
    const existing = await io.get(key);
    let previous: LeaseBody | undefined;
    if (existing !== undefined) {
      previous = parseLease(existing.body);
      if (previous !== undefined && options.force !== true) {
        const deadAt = previous.expires + previous.leaseMs;
        if (Date.now() <= deadAt) throw lockedError(where, previous, deadAt);
      }
    }
    const lease: LeaseBody = {
      format: 'deja-s3-lock',
      version: 1,
      token: randomBytes(16).toString('hex'),
      owner: `${hostname()} pid ${process.pid}`,
      acquired: Date.now(),
      expires: 0,
      leaseMs,
    };
    const sent = Date.now();
    lease.expires = sent + leaseMs;
    const body = encodeLease(lease);
    const first = await io.put(
      key,
      body,
      existing === undefined ? { ifNoneMatch: '*' } : existing.etag ? { ifMatch: existing.etag } : {},
    );
    if (first.conditionFailed) throw await raceError(io, key);
    const probe = await io.put(key, body, { ifNoneMatch: '*' });
    const mode: BucketLockMode = probe.conditionFailed ? 'conditional' : 'lease';
    let etag = probe.conditionFailed ? first.etag : probe.etag;
    if (mode === 'lease') {
      await sleep(Math.max(50, Math.min(250, leaseMs / 20)));
      const check = await io.get(key);
      if (check === undefined || parseLease(check.body)?.token !== lease.token)
        throw await raceError(io, key);
      etag = check.etag;
    }
    return new BucketLock(io, key, mode, lease, etag, sent);
  }

  /** Whether a live lease of another writer is there (for read-only opens). */
  static async check(io: S3Io, key: string): Promise<void> {
    const existing = await io.get(key);
    if (existing === undefined) return;
    const lease = parseLease(existing.body);
    if (lease === undefined) return;
    const deadAt = lease.expires + lease.leaseMs;
    if (Date.now() <= deadAt) throw lockedError(io.where(key), lease, deadAt);
  }

  /**
   * Throws unless this handle still holds the lock: it was not taken over, and by our clock the
   * lease has not run out. O(1), no request.
   * @throws StorageError `ERR_LOCKED`.
   */
  assertHeld(): void {
    if (this.#lost) throw this.#lost;
    if (this.#released)
      throw new StorageError('ERR_LOCKED', `${this.#io.where(this.key)}: the lock was released`);
    if (Date.now() >= this.#validUntil) {
      throw new StorageError(
        'ERR_LOCKED',
        `${this.#io.where(this.key)}: the lease ran out (not renewed within ${this.leaseMs} ms): ` +
          'another writer may have taken the store over; close and reopen',
      );
    }
  }

  /** Renews the lease now (the timer calls it every third of a lease). Never rejects. */
  renew(): Promise<void> {
    if (this.#released || this.#lost) return Promise.resolve();
    this.#renewing ??= this.#renew().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renew(): Promise<void> {
    const where = this.#io.where(this.key);
    try {
      const sent = Date.now();
      if (sent >= this.#validUntil) {
        this.#lose(new StorageError('ERR_LOCKED', `${where}: the lease ran out before it could be renewed`));
        return;
      }
      if (this.mode === 'lease') {
        const current = await this.#io.get(this.key);
        const lease = current && parseLease(current.body);
        if (lease?.token !== this.token) {
          this.#lose(takenError(where, lease));
          return;
        }
      }
      const body = encodeLease({
        format: 'deja-s3-lock',
        version: 1,
        token: this.token,
        owner: this.#owner,
        acquired: this.#acquired,
        expires: sent + this.leaseMs,
        leaseMs: this.leaseMs,
      });
      const result = await this.#io.put(
        this.key,
        body,
        this.mode === 'conditional' && this.#etag ? { ifMatch: this.#etag } : {},
      );
      if (result.conditionFailed) {
        this.#lose(takenError(where, undefined));
        return;
      }
      if (this.#released) return;
      this.#etag = result.etag;
      this.#validUntil = sent + this.leaseMs;
    } catch {
      // A failed renewal is retried at the next tick; assertHeld() fails once the lease runs out.
    }
  }

  /** Stops renewing and deletes the lock object if it still holds our token. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    await this.#renewing;
    if (this.#lost) return;
    const current = await this.#io.get(this.key);
    if (current !== undefined && parseLease(current.body)?.token === this.token)
      await this.#io.delete(this.key);
  }

  #lose(error: StorageError): void {
    this.#lost = error;
    clearInterval(this.#timer);
  }
}

function encodeLease(lease: LeaseBody): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(lease)}\n`);
}

/** The lease in a lock object, or `undefined` if the bytes are not one (a damaged lock is dead). */
function parseLease(bytes: Uint8Array): LeaseBody | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LeaseBody>;
    if (
      value.format === 'deja-s3-lock' &&
      typeof value.token === 'string' &&
      typeof value.expires === 'number' &&
      typeof value.leaseMs === 'number'
    ) {
      return value as LeaseBody;
    }
  } catch {
    // Not JSON: not a lease.
  }
  return undefined;
}

function lockedError(where: string, lease: LeaseBody, deadAt: number): StorageError {
  return new StorageError(
    'ERR_LOCKED',
    `${where}: locked by ${lease.owner ?? 'another writer'} (lease until ${new Date(lease.expires).toISOString()}); ` +
      `only one writer may open a store at a time. If that writer is dead, the lock can be taken over ` +
      `after ${new Date(deadAt).toISOString()}, or at once with lock: { force: true }`,
  );
}

function takenError(where: string, lease: LeaseBody | undefined): StorageError {
  return new StorageError(
    'ERR_LOCKED',
    `${where}: the lock was taken over${lease ? ` by ${lease.owner}` : ''}; this handle no longer writes`,
  );
}

async function raceError(io: S3Io, key: string): Promise<StorageError> {
  const current = await io.get(key).catch(() => undefined);
  const lease = current && parseLease(current.body);
  return new StorageError(
    'ERR_LOCKED',
    `${io.where(key)}: another writer took the lock at the same time${lease ? ` (${lease.owner})` : ''}`,
  );
}
