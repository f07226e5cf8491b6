// Exact-length reads from a socket with a bound on what is buffered: both ends of the protocol read
// fixed headers and payloads of known length. The reader keeps what arrived in a list of chunks,
// hands out exactly the bytes asked for, and pauses the socket once it holds more than it was
// asked for plus a small read-ahead, so a peer that sends faster than we handle costs at most
// `max(asked, readAhead)` plus one socket chunk of memory: TCP flow control does the rest.

import type { Duplex } from 'node:stream';

/** The connection ended (or failed) before the bytes asked for arrived. */
export class EndOfStream extends Error {
  override name = 'EndOfStream';
}

/** Reads exact byte counts from a stream, with bounded buffering. */
export class ByteReader {
  readonly #stream: Duplex;
  readonly #readAhead: number;
  #chunks: Buffer[] = [];
  #length = 0;
  #want = 0;
  #waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  #ended: Error | undefined;
  #paused = false;
  readonly #onData = (chunk: Buffer) => this.#data(chunk);
  readonly #onEnd = () => this.#end(new EndOfStream('the connection was closed'));
  readonly #onError = (e: Error) => this.#end(new EndOfStream(`the connection failed: ${e.message}`));

  /**
   * @param stream - a socket (plain or TLS) in flowing mode; the reader owns its `data` events.
   * @param readAhead - bytes buffered beyond the current read before the socket is paused.
   */
  constructor(stream: Duplex, readAhead = 256 * 1024) {
    this.#stream = stream;
    this.#readAhead = readAhead;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('close', this.#onEnd);
    stream.on('error', this.#onError);
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#length;
  }

  /**
   * The next `n` bytes. Rejects with {@link EndOfStream} when the stream ends first. One read at
   * a time.
   */
  read(n: number): Promise<Buffer> {
    if (this.#waiter) return Promise.reject(new Error('ByteReader: one read at a time'));
    if (this.#length >= n) return Promise.resolve(this.#take(n));
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#want = n;
      this.#waiter = { resolve, reject };
      this.#flow();
    });
  }

  /**
   * The next `n` bytes if they have arrived (no promise, no wait), else undefined; also undefined
   * while a {@link read} is pending.
   */
  tryRead(n: number): Buffer | undefined {
    return this.#waiter === undefined && this.#length >= n ? this.#take(n) : undefined;
  }

  /**
   * Skips `n` bytes without keeping them (a payload that is refused), a piece at a time.
   */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      const step = Math.min(n, this.#readAhead);
      await this.read(step);
      n -= step;
    }
  }

  /**
   * Stops reading: removes the listeners and returns what was buffered (for a STARTTLS upgrade,
   * which must start with nothing pending). A pending read rejects.
   */
  detach(): Buffer {
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('close', this.#onEnd);
    this.#stream.off('error', this.#onError);
    const rest = Buffer.concat(this.#chunks, this.#length);
    this.#chunks = [];
    this.#length = 0;
    this.#end(new EndOfStream('the reader was detached'));
    return rest;
  }

  #data(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    const w = this.#waiter;
    if (w && this.#length >= this.#want) {
      this.#waiter = undefined;
      const n = this.#want;
      this.#want = 0;
      w.resolve(this.#take(n));
    }
    this.#flow();
  }

  /** Pauses the stream when enough is buffered, resumes it when more is needed. */
  #flow(): void {
    const limit = Math.max(this.#want, this.#readAhead);
    if (this.#length >= limit) {
      if (!this.#paused) {
        this.#paused = true;
        this.#stream.pause();
      }
    } else if (this.#paused) {
      this.#paused = false;
      this.#stream.resume();
    }
  }

  #end(error: Error): void {
    this.#ended ??= error;
    const w = this.#waiter;
    if (w) {
      this.#waiter = undefined;
      w.reject(this.#ended);
    }
  }

  #take(n: number): Buffer {
    let out: Buffer;
    const first = this.#chunks[0] as Buffer | undefined;
    if (n === 0) out = Buffer.alloc(0);
    else if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.#chunks[0] as Buffer;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      }
    }
    this.#length -= n;
    this.#flow();
    return out;
  }
}
