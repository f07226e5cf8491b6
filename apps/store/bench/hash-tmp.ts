import { hash as chash, createHash, randomBytes } from 'node:crypto';
import { createBLAKE3, createXXHash128 } from 'hash-wasm';

const N = 65536;
const CS = 4096;
const buf = randomBytes(N * CS);
function t(label: string, fn: (c: Uint8Array) => void) {
  for (let r = 0; r < 2; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) fn(buf.subarray(i * CS, (i + 1) * CS));
    const s = (performance.now() - t0) / 1000;
    if (r) console.log(label, ((N * CS) / s / 1e6).toFixed(0), 'MB/s');
  }
}
t('sha256 createHash', (c) => createHash('sha256').update(c).digest());
t('sha256 crypto.hash', (c) => chash('sha256', c, 'buffer'));
t('md5 crypto.hash', (c) => chash('md5', c, 'buffer'));
const x = await createXXHash128();
t('xxh128 hash-wasm', (c) => {
  x.init();
  x.update(c);
  x.digest('binary');
});
const b = await createBLAKE3(128);
t('blake3 hash-wasm', (c) => {
  b.init();
  b.update(c);
  b.digest('binary');
});
