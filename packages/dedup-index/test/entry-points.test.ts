// The public surface: the main entry point exports the index, its errors and nothing of its
// machinery; `./advanced` exports the machinery; the exports map points both at these sources.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import * as advanced from '../src/advanced';
import * as main from '../src/index';

it('the main entry point exports the index and its errors only', () => {
  expect(Object.keys(main).sort()).toEqual([
    'DEDUP_INDEX_ERROR_CODES',
    'DedupIndex',
    'DedupIndexError',
    'isDedupIndexError',
  ]);
});

it('./advanced exports the machinery', () => {
  expect(Object.keys(advanced).sort()).toEqual([
    'PageCache',
    'SAVE_HEADER_MAGIC',
    'SEAL_MAGIC',
    'SUMMARY_STRIDE',
    'SUPERBLOCK_MAGIC',
    'VolumeIndex',
    'VolumeIndexRecord',
    'VolumeSubIndex',
    'checkRecordPageOrder',
    'computeStorageLayout',
    'encodeRecordPage',
    'searchRecordPage',
    'summarizeRecordPage',
  ]);
});

it('the exports map names both entry points', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  expect(pkg.exports['.']['@deja/source']).toBe('./src/index.ts');
  expect(pkg.exports['./advanced']).toEqual({
    '@deja/source': './src/advanced.ts',
    types: './dist/advanced.d.ts',
    default: './dist/advanced.js',
  });
});
