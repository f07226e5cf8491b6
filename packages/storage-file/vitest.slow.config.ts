import { slowConfig } from '../../vitest.shared.ts';

export default slowConfig('storage-file');
