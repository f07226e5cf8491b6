/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QEMU headers that the seed's util/hbitmap.c includes (qemu/osdep.h, qemu/hbitmap.h,
 * qemu/host-utils.h, trace.h, crypto/hash.h), for a user-space build of it outside QEMU:
 * bench/c/build.sh makes each of them a one-line include of this file. The HBitmap declarations and
 * constants follow QEMU's include/qemu/hbitmap.h of the seed's time (64-bit longs: 6 bits per level,
 * 2^41 bits at most, 7 levels); the helpers are the few that hbitmap.c calls. Tracing is dropped,
 * hbitmap_sha256 has no hash to call (it fails), allocation is calloc/realloc/free, and assert stays
 * on, as QEMU always builds it. 64-bit little-endian hosts only, as the benchmark machine is.
 */
#ifndef HBITMAP_BENCH_SHIM_H
#define HBITMAP_BENCH_SHIM_H
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(unsigned long) == 8, "the shim assumes 64-bit longs");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the shim assumes a little-endian host");

/* qemu/osdep.h */
#define BITS_PER_LONG 64
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ROUND_UP(n, d) (DIV_ROUND_UP((n), (d)) * (d))
#define BITS_TO_LONGS(nr) DIV_ROUND_UP((nr), BITS_PER_LONG)
#define g_new0(type, n) ((type *)calloc((n), sizeof(type)))
#define g_realloc(p, n) realloc((p), (n))
#define g_free(p) free(p)

/* qemu/bswap.h: the host is little-endian, so these are the identity. */
#define cpu_to_le32(x) ((uint32_t)(x))
#define cpu_to_le64(x) ((uint64_t)(x))
#define le32_to_cpus(p) ((void)(p))
#define le64_to_cpus(p) ((void)(p))

/* qemu/host-utils.h */
static inline int ctz32(uint32_t v) { return v ? __builtin_ctz(v) : 32; }
static inline int ctzl(unsigned long v) { return v ? __builtin_ctzl(v) : BITS_PER_LONG; }
/* Count trailing ones. */
static inline int ctol(unsigned long v) { return ctzl(~v); }
static inline int ctpopl(unsigned long v) { return __builtin_popcountl(v); }

/* trace.h: no tracing. */
#define trace_hbitmap_iter_skip_words(...) ((void)0)
#define trace_hbitmap_set(...) ((void)0)
#define trace_hbitmap_reset(...) ((void)0)

/* crypto/hash.h: no hash here; hbitmap_sha256 returns NULL. */
typedef struct Error Error;
enum { QCRYPTO_HASH_ALG_SHA256 };
static inline int qcrypto_hash_digest(int alg, const char *buf, size_t len, char **result, Error **errp)
{
	(void)alg;
	(void)buf;
	(void)len;
	(void)errp;
	*result = NULL;
	return -1;
}

/* qemu/hbitmap.h */
#define BITS_PER_LEVEL 6
#define HBITMAP_LOG_MAX_SIZE 41
#define HBITMAP_LEVELS ((HBITMAP_LOG_MAX_SIZE / BITS_PER_LEVEL) + 1)

typedef struct HBitmap HBitmap;
typedef struct HBitmapIter {
	const HBitmap *hb;
	/* Copied from hb for access in the inline functions. */
	int granularity;
	/* The word of the bottom level the iterator is at. */
	size_t pos;
	/* The bits of each level not yet visited. */
	unsigned long cur[HBITMAP_LEVELS];
} HBitmapIter;

HBitmap *hbitmap_alloc(uint64_t size, int granularity);
void hbitmap_truncate(HBitmap *hb, uint64_t size);
bool hbitmap_merge(const HBitmap *a, const HBitmap *b, HBitmap *result);
bool hbitmap_can_merge(const HBitmap *a, const HBitmap *b);
bool hbitmap_empty(const HBitmap *hb);
int hbitmap_granularity(const HBitmap *hb);
uint64_t hbitmap_count(const HBitmap *hb);
void hbitmap_set(HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_reset(HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_reset_all(HBitmap *hb);
bool hbitmap_get(const HBitmap *hb, uint64_t item);
bool hbitmap_is_serializable(const HBitmap *hb);
uint64_t hbitmap_serialization_align(const HBitmap *hb);
uint64_t hbitmap_serialization_size(const HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_serialize_part(const HBitmap *hb, uint8_t *buf, uint64_t start, uint64_t count);
void hbitmap_deserialize_part(HBitmap *hb, uint8_t *buf, uint64_t start, uint64_t count, bool finish);
void hbitmap_deserialize_zeroes(HBitmap *hb, uint64_t start, uint64_t count, bool finish);
void hbitmap_deserialize_ones(HBitmap *hb, uint64_t start, uint64_t count, bool finish);
void hbitmap_deserialize_finish(HBitmap *hb);
char *hbitmap_sha256(const HBitmap *bitmap, Error **errp);
void hbitmap_free(HBitmap *hb);
void hbitmap_iter_init(HBitmapIter *hbi, const HBitmap *hb, uint64_t first);
unsigned long hbitmap_iter_skip_words(HBitmapIter *hbi);
int64_t hbitmap_iter_next(HBitmapIter *hbi, bool advance);
int64_t hbitmap_next_zero(const HBitmap *hb, uint64_t start, uint64_t count);
bool hbitmap_next_dirty_area(const HBitmap *hb, uint64_t *start, uint64_t *count);
HBitmap *hbitmap_create_meta(HBitmap *hb, int chunk_size);
void hbitmap_free_meta(HBitmap *hb);

/*
 * The next nonzero word of the bottom level: returns its index and stores its unvisited bits in
 * *p_cur, or returns (size_t)-1 and stores 0 at the end. The next call resumes at the word after.
 */
static inline size_t hbitmap_iter_next_word(HBitmapIter *hbi, unsigned long *p_cur)
{
	unsigned long cur = hbi->cur[HBITMAP_LEVELS - 1];

	if (cur == 0) {
		cur = hbitmap_iter_skip_words(hbi);
		if (cur == 0) {
			*p_cur = 0;
			return (size_t)-1;
		}
	}
	hbi->cur[HBITMAP_LEVELS - 1] = 0;
	*p_cur = cur;
	return hbi->pos;
}
#endif
