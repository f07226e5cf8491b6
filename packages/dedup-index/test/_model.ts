// A model of the index for property tests: a Map from name to metadata and the chapter that holds
// the name's newest record, the open chapter's fill (per zone, as UDS counts records), and the
// contents of every closed chapter (to predict what a rebuild after a crash must find). Sparse
// chapters make some answers optional: a non-sampled name in a sparse chapter may or may not be
// found (the sparse cache), and the model follows the index there.

import type { IndexGeometry } from '@deja/volume-geometry';

export interface ModelEntry {
  meta: string;
  chapter: number;
}

export class Model {
  readonly entries = new Map<string, ModelEntry>();
  readonly chapters = new Map<number, Map<string, string>>();
  newest = 0;
  zones: { size: number; live: Set<string> }[];

  constructor(
    readonly geometry: IndexGeometry,
    readonly zoneCount: number,
    readonly zoneOf: (name: string) => number,
    readonly isSample: (name: string) => boolean = () => true,
  ) {
    this.zones = Array.from({ length: zoneCount }, () => ({ size: 0, live: new Set<string>() }));
  }

  get capacity(): number {
    return Math.floor(this.geometry.recordsPerChapter / this.zoneCount);
  }

  /** 'yes', 'no', or 'maybe' (a non-sampled name in a sparse chapter). */
  visibility(name: string): 'yes' | 'no' | 'maybe' {
    const entry = this.entries.get(name);
    if (entry === undefined) return 'no';
    if (entry.chapter < this.newest - this.geometry.chaptersPerVolume + 1) return 'no';
    const sparse =
      this.geometry.sparseChaptersPerVolume > 0 &&
      entry.chapter + this.geometry.denseChaptersPerVolume <= this.newest;
    if (sparse && !this.isSample(name)) return 'maybe';
    return 'yes';
  }

  /** Resolve a 'maybe' with what the index answered. */
  resolve(name: string, indexFound: boolean): boolean {
    const v = this.visibility(name);
    if (v === 'maybe') return indexFound;
    return v === 'yes';
  }

  #openPut(name: string): void {
    const zone = this.zones[this.zoneOf(name)]!;
    if (zone.live.has(name)) return;
    zone.size++;
    zone.live.add(name);
    if (zone.size >= this.capacity) this.#close();
  }

  #close(): void {
    const contents = new Map<string, string>();
    for (const zone of this.zones)
      for (const name of zone.live) contents.set(name, this.entries.get(name)!.meta);
    this.chapters.set(this.newest, contents);
    this.newest++;
    for (const zone of this.zones) {
      zone.size = 0;
      zone.live.clear();
    }
  }

  post(name: string, meta: string, visible: boolean): string | undefined {
    const entry = this.entries.get(name);
    if (visible && entry !== undefined) {
      if (entry.chapter !== this.newest) {
        entry.chapter = this.newest;
        this.#openPut(name);
      }
      return entry.meta;
    }
    this.entries.set(name, { meta, chapter: this.newest });
    this.#openPut(name);
    return undefined;
  }

  update(name: string, meta: string, visible: boolean): string | undefined {
    const entry = this.entries.get(name);
    const old = visible && entry !== undefined ? entry.meta : undefined;
    this.entries.set(name, { meta, chapter: this.newest });
    this.#openPut(name);
    return old;
  }

  query(name: string, visible: boolean, refresh: boolean): string | undefined {
    const entry = this.entries.get(name);
    if (!visible || entry === undefined) return undefined;
    if (refresh && entry.chapter !== this.newest) {
      entry.chapter = this.newest;
      this.#openPut(name);
    }
    return entry.meta;
  }

  delete(name: string, visible: boolean): boolean {
    const entry = this.entries.get(name);
    if (!visible || entry === undefined) return false;
    this.entries.delete(name);
    if (entry.chapter === this.newest) this.zones[this.zoneOf(name)]!.live.delete(name);
    return true;
  }

  /** A clean close and open: the open chapter is saved without its deleted records. */
  reopen(): void {
    for (const zone of this.zones) zone.size = zone.live.size;
  }

  /** What a rebuild from the closed chapters must give: the newest chapter of each name in the window. */
  crash(): void {
    this.entries.clear();
    const first = Math.max(0, this.newest - 1 - this.geometry.chaptersPerVolume + 2);
    for (let c = first; c < this.newest; c++) {
      const contents = this.chapters.get(c);
      if (contents === undefined) continue;
      // Non-sampled names of sparse chapters are not replayed, but the sparse cache may find them:
      // visibility() calls them 'maybe'.
      for (const [name, meta] of contents) this.entries.set(name, { meta, chapter: c });
    }
    for (const zone of this.zones) {
      zone.size = 0;
      zone.live.clear();
    }
  }
}
