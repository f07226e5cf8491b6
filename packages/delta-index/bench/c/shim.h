/*
 * The kernel and UDS helpers that the seed's delta-index.c includes, for a user-space build of it
 * (bench/c/build.sh makes every header it includes a one-line include of this file). Only what the
 * search, put and statistics paths need is real; the save/restore stream calls fail, and logging
 * is dropped. Little-endian hosts only, as the benchmark machine is.
 */
#ifndef DELTA_BENCH_SHIM_H
#define DELTA_BENCH_SHIM_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
typedef int64_t ktime_t;

#define BITS_PER_BYTE 8
#define BITS_PER_TYPE(t) (sizeof(t) * BITS_PER_BYTE)
#define BITS_TO_BYTES(n) DIV_ROUND_UP((n), 8)
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define __must_check
#define __packed __attribute__((packed))
#define __aligned(x) __attribute__((aligned(x)))
#define noinline __attribute__((noinline))
#define L1_CACHE_BYTES 64
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min_t(t, a, b) min((t)(a), (t)(b))
#define max_t(t, a, b) max((t)(a), (t)(b))
#define U8_MAX 0xff
#define U16_MAX 0xffff
#define U32_MAX 0xffffffffU
#define ffs __builtin_ffs
#define MAX_ZONES 16
#define UDS_RECORD_NAME_SIZE 16

enum {
	UDS_SUCCESS = 0,
	UDS_CORRUPT_DATA = 1024,
	UDS_OVERFLOW,
	UDS_BAD_STATE,
	UDS_INVALID_ARGUMENT,
	UDS_DUPLICATE_NAME,
	UDS_ASSERTION_FAILED,
};

static inline unsigned int bits_per(unsigned int n)
{
	unsigned int bits = 0;

	for (; n != 0; n >>= 1)
		bits++;
	return bits;
}

static inline u16 get_unaligned_le16(const void *p) { u16 v; memcpy(&v, p, 2); return v; }
static inline u32 get_unaligned_le32(const void *p) { u32 v; memcpy(&v, p, 4); return v; }
static inline u64 get_unaligned_le64(const void *p) { u64 v; memcpy(&v, p, 8); return v; }
static inline u16 get_unaligned_be16(const void *p) { return __builtin_bswap16(get_unaligned_le16(p)); }
static inline u64 get_unaligned_be64(const void *p) { return __builtin_bswap64(get_unaligned_le64(p)); }
static inline void put_unaligned_le16(u16 v, void *p) { memcpy(p, &v, 2); }
static inline void put_unaligned_le32(u32 v, void *p) { memcpy(p, &v, 4); }
static inline void put_unaligned_le64(u64 v, void *p) { memcpy(p, &v, 8); }
static inline void decode_u16_le(const u8 *b, size_t *o, u16 *v) { *v = get_unaligned_le16(b + *o); *o += 2; }
static inline void decode_u32_le(const u8 *b, size_t *o, u32 *v) { *v = get_unaligned_le32(b + *o); *o += 4; }
static inline void decode_u64_le(const u8 *b, size_t *o, u64 *v) { *v = get_unaligned_le64(b + *o); *o += 8; }
static inline void encode_u16_le(u8 *b, size_t *o, u16 v) { put_unaligned_le16(v, b + *o); *o += 2; }
static inline void encode_u32_le(u8 *b, size_t *o, u32 v) { put_unaligned_le32(v, b + *o); *o += 4; }
static inline void encode_u64_le(u8 *b, size_t *o, u64 v) { put_unaligned_le64(v, b + *o); *o += 8; }

#define ASSERT(cond, ...) \
	((cond) ? UDS_SUCCESS : (fprintf(stderr, "assertion failed: %s\n", #cond), UDS_ASSERTION_FAILED))
#define uds_log_warning_strerror(result, ...) (result)
#define uds_log_error_strerror(result, ...) (result)
#define uds_log_warning(...) ((void)0)
#define uds_log_info(...) ((void)0)
#define uds_log_ratelimit(...) ((void)0)

/* uds_allocate zeroes, as calloc does. */
static inline int uds_allocate_zeroed(size_t count, size_t size, void **ptr)
{
	*ptr = calloc(count, size);
	return *ptr != NULL ? UDS_SUCCESS : -1;
}
#define UDS_ALLOCATE(count, type, what, ptr) uds_allocate_zeroed((count), sizeof(type), (void **)(ptr))
#define UDS_FREE(ptr) free(ptr)
#define UDS_FORGET(ptr) (ptr)

static inline void uds_prefetch_range(const void *p, unsigned int n, bool write)
{
	(void)p;
	(void)n;
	(void)write;
}

static inline ktime_t current_time_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (ktime_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
#define ktime_sub(a, b) ((a) - (b))

struct buffered_reader;
struct buffered_writer;
static inline int uds_read_from_buffered_reader(struct buffered_reader *r, u8 *d, size_t n)
{
	(void)r; (void)d; (void)n;
	return UDS_BAD_STATE;
}
static inline int uds_write_to_buffered_writer(struct buffered_writer *w, const u8 *d, size_t n)
{
	(void)w; (void)d; (void)n;
	return UDS_BAD_STATE;
}
#endif
