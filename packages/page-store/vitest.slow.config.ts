import { slowConfig } from '../../vitest.shared.ts';

export default slowConfig('page-store');
