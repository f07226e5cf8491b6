import { defineConfig } from 'tsup';

export default defineConfig({
  // The zone worker's entry is a file of its own: the pool starts it by URL beside the bundle.
  entry: ['src/index.ts', 'src/advanced.ts', 'src/_internal-zone-worker.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
