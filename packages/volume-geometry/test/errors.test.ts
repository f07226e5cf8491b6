// The error contract of @deja/volume-geometry: the README's table lists exactly
// VOLUME_GEOMETRY_ERROR_CODES, one case per code, and the marker guard.
import { fileURLToPath } from 'node:url';
import { readmeErrorCodes } from '@deja/test-helpers';
import { expect, it } from 'vitest';
import {
  createConfiguration,
  createGeometry,
  isVolumeGeometryError,
  VOLUME_GEOMETRY_ERROR_CODES,
  VolumeGeometryError,
} from '../src/index';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a throw');
}

it('the README table lists exactly the exported codes', () => {
  const readme = fileURLToPath(new URL('../README.md', import.meta.url));
  expect(readmeErrorCodes(readme)).toEqual([...VOLUME_GEOMETRY_ERROR_CODES]);
});

it('ERR_INVALID_GEOMETRY: a page size that is not a multiple of 32', () => {
  const error = caught(() =>
    createGeometry({ bytesPerPage: 4080, recordPagesPerChapter: 4, chaptersPerVolume: 16 }),
  );
  expect(isVolumeGeometryError(error, 'ERR_INVALID_GEOMETRY')).toBe(true);
  expect(error).toBeInstanceOf(RangeError);
});

it('ERR_INVALID_MEMORY_SIZE: 1.5 GB', () => {
  expect(
    isVolumeGeometryError(
      caught(() => createConfiguration({ memorySize: 1.5 })),
      'ERR_INVALID_MEMORY_SIZE',
    ),
  ).toBe(true);
});

it('ERR_INVALID_CONFIGURATION: 17 zones', () => {
  const error = caught(() => createConfiguration({ memorySize: 1, zoneCount: 17 }));
  expect(isVolumeGeometryError(error, 'ERR_INVALID_CONFIGURATION')).toBe(true);
});

it('the guard recognises errors by their marker, not by instanceof', () => {
  const copy = Object.assign(new RangeError('x'), {
    name: 'VolumeGeometryError',
    code: 'ERR_INVALID_GEOMETRY',
  });
  expect(isVolumeGeometryError(copy)).toBe(false);
  Object.defineProperty(copy, Symbol.for('@deja/volume-geometry.error'), { value: true });
  expect(isVolumeGeometryError(copy, 'ERR_INVALID_GEOMETRY')).toBe(true);
  expect(
    isVolumeGeometryError(new VolumeGeometryError('ERR_INVALID_GEOMETRY', 'x'), 'ERR_INVALID_MEMORY_SIZE'),
  ).toBe(false);
});
