// The shared settings, minus the 'module' resolve condition: the AWS SDK's "module" builds
// (dist-es, reached through @deja/storage-s3 by the S3 tests) use extensionless imports that Node
// cannot load, so it must resolve to its Node builds.
import { packageConfig } from '../../vitest.shared.ts';

const config = packageConfig('store');
const conditions = ['@deja/source', 'node', 'import', 'default'];
config.resolve = { ...config.resolve, conditions };
config.ssr = { ...config.ssr, resolve: { ...config.ssr?.resolve, conditions } };

export default config;
