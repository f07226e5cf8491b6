// `pnpm demo`: a short tour of the Deja packages working together, until the store app (apps/store)
// exists to demo the whole product. A volume image with repeated content is cut into 4 KiB chunks;
// the dedup index finds the repeats, an hbitmap tracks which chunks changed since a snapshot, the
// exception store keeps a snapshot of the volume across overwrites and deletes it again, and the page
// layer survives a simulated power loss at the last commit.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DedupIndex } from '@deja/dedup-index';
import { ExceptionStore, OriginVolume } from '@deja/exception-store';
import { HBitmap } from '@deja/hbitmap';
import { FaultyStorage, FileStorage, MemoryStorage, PageStore } from '@deja/storage';
import { createGeometry } from '@deja/volume-geometry';

const CHUNK = 4096;
const CHUNKS = 2048; // an 8 MiB volume

/** A deterministic volume image: 2048 chunks drawn from 600 distinct contents, some all-zero. */
function makeVolume(): Uint8Array {
  const volume = new Uint8Array(CHUNK * CHUNKS);
  let state = 0x9e3779b9;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  for (let c = 0; c < CHUNKS; c++) {
    const content = next() % 600;
    if (content < 20) continue; // leave it zero
    const chunk = volume.subarray(c * CHUNK, (c + 1) * CHUNK);
    chunk.fill(content & 0xff);
    new DataView(chunk.buffer, chunk.byteOffset).setUint32(0, content, true);
  }
  return volume;
}

const recordName = (chunk: Uint8Array) => createHash('sha256').update(chunk).digest().subarray(0, 16);
const isZero = (chunk: Uint8Array) => chunk.every((b) => b === 0);

async function dedupTour(volume: Uint8Array): Promise<void> {
  console.log('1. Deduplication: @deja/dedup-index (UDS volume index, open chapter, chapters on storage)');
  const storage = new MemoryStorage();
  const geometry = createGeometry({ bytesPerPage: 4096, recordPagesPerChapter: 4, chaptersPerVolume: 16 });
  const index = await DedupIndex.create(storage, { geometry });
  let zero = 0;
  let dup = 0;
  let stored = 0;
  for (let c = 0; c < CHUNKS; c++) {
    const chunk = volume.subarray(c * CHUNK, (c + 1) * CHUNK);
    if (isZero(chunk)) {
      zero++;
      continue;
    }
    const where = new Uint8Array(16);
    new DataView(where.buffer).setUint32(0, stored, true);
    const earlier = await index.post(recordName(chunk), where);
    if (earlier === undefined) stored++;
    else dup++;
  }
  const stats = index.getStats();
  console.log(`   ${CHUNKS} chunks: ${zero} all-zero (not stored), ${dup} duplicates, ${stored} stored once`);
  console.log(
    `   index: ${stats.entries} volume-index entries, ${stats.chaptersWritten} chapters written, ` +
      `${stats.bytesPerRecord.toFixed(2)} bytes of volume-index memory per record so far (this small index is far from full)`,
  );
  await index.close();
}

async function snapshotTour(volume: Uint8Array, dir: string): Promise<void> {
  console.log(
    '2. Snapshots: @deja/exception-store on the @deja/storage page layer, dirty tracking with @deja/hbitmap',
  );
  const pages = await PageStore.create(await FileStorage.open(join(dir, 'cow.img'), { create: true }), {
    pageSize: CHUNK,
    pageCount: 4096,
  });
  const store = await ExceptionStore.create(pages, { maskWidth: 64 });
  const disk = await FileStorage.open(join(dir, 'volume.img'), { create: true });
  const origin = new OriginVolume(store, disk, { size: volume.length });
  await origin.write(0, volume);
  const monday = await origin.createSnapshot('monday');
  const dirty = new HBitmap(CHUNKS);

  // Overwrite every 16th chunk of the live volume; the snapshot keeps the old content.
  const changed = new Uint8Array(CHUNK).fill(0xee);
  for (let c = 0; c < CHUNKS; c += 16) {
    await origin.write(c * CHUNK, changed);
    dirty.set(c, 1);
  }
  await origin.flush();
  const old = await monday.read(16 * CHUNK, CHUNK);
  const same = Buffer.compare(Buffer.from(old), Buffer.from(volume.subarray(16 * CHUNK, 17 * CHUNK))) === 0;
  console.log(`   snapshot 'monday' still reads the old chunk 16 after the overwrite: ${same}`);
  console.log(`   chunks changed since 'monday' (hbitmap): ${dirty.count()}`);
  const diff = await store.diff('monday', null);
  console.log(`   chunks where 'monday' differs from the live volume (B-tree pass): ${diff.length}`);
  const exclusive = await store.exclusiveChunks('monday');
  console.log(`   'monday' alone holds ${exclusive.exceptions.length} exceptions (what deleting it frees)`);
  const freeBefore = pages.freePageCount();
  await store.deleteSnapshot('monday');
  console.log(`   free pages: ${freeBefore} before the delete, ${pages.freePageCount()} after`);
  await store.close();
  await pages.close();
  await disk.close();
}

async function crashTour(): Promise<void> {
  console.log('3. Crash safety: the @deja/storage page layer under a simulated power loss');
  const medium = new MemoryStorage();
  const faulty = await FaultyStorage.wrap(medium, { seed: 7 });
  const pages = await PageStore.create(faulty, { pageSize: 4096, pageCount: 256 });
  const txn = pages.begin();
  const page = await txn.allocate('meta');
  txn.writeMeta(page, new Uint8Array(pages.metaPayloadSize).fill(1));
  txn.setRoot('demo', page);
  await txn.commit();
  const lost = pages.begin();
  lost.writeMeta(page, new Uint8Array(pages.metaPayloadSize).fill(2));
  await faulty.crash('torn'); // power fails before the second transaction commits
  const again = await PageStore.open(new MemoryStorage({ data: medium.snapshot() }));
  const root = again.getRoot('demo');
  const payload = root === undefined ? undefined : await again.readMeta(root);
  console.log(
    `   after the crash the store opens at its last commit: page holds ${payload?.[0]} (1 = committed)`,
  );
  await again.close();
}

const dir = await mkdtemp(join(tmpdir(), 'deja-demo-'));
try {
  const volume = makeVolume();
  await dedupTour(volume);
  await snapshotTour(volume, dir);
  await crashTour();
} finally {
  await rm(dir, { recursive: true, force: true });
}
