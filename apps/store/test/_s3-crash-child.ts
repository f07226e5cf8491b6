// The crash test's child process: opens the store in the bucket (data and index on S3Storage),
// runs one round of the crash workload and prints `opened` once it holds the store and `F <k>`
// after its k-th completed commit point (a flush or a snapshot), until the parent kills it with
// SIGKILL at a random instant.
// argv: endpoint prefix seed round size count
import { Store } from '../src/index';
import { crashOps, openAdapters } from './_s3-common';

const [endpoint, prefix, seed, round, size, count] = process.argv.slice(2);
process.stdout.write('ready\n');
const store = await Store.open(await openAdapters(endpoint!, prefix!));
process.stdout.write('opened\n');
let commits = 0;
for (const op of crashOps(Number(seed), Number(round), Number(size), Number(count))) {
  if (op.kind === 'write') await store.write(op.offset, op.data);
  else if (op.kind === 'discard') await store.discard(op.offset, op.length);
  else {
    if (op.kind === 'flush') await store.flush();
    else await store.createSnapshot(op.name);
    process.stdout.write(`F ${++commits}\n`);
  }
}
await store.close();
process.stdout.write('done\n');
