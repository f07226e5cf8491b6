// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The seed's hbitmap (QEMU util/hbitmap.c, built as it is by build.sh) running the workloads of
 * bench/index.ts on the same bitmap: the same generator (splitmix32 and randomInt of
 * @deja/test-helpers, so the same positions, ranges and holes), the same sizes, and the same timing
 * rules (bench/harness.ts: measure() calibrates a batch to 25 ms, warms up for 150 ms and keeps the
 * best of 7 samples; once() keeps the best of its samples after one untimed call). QEMU has no
 * allocate: here it is hbitmap_next_zero then hbitmap_set of the group found, as the other contenders
 * of bench/impls.ts do it.
 *
 *   hbitmap-bench <size> <granularity> <quick 0|1> [command...]
 *
 * runs the commands given (`all`: every workload in the order of the benchmark), or else reads one
 * command a line from stdin, which is how bench/index.ts drives it, one workload at a time between
 * its own contenders. Each command prints one JSON line: {"op","value","unit"} (and "visited", the set
 * bits an iteration saw, or "count", the bitmap's count after a setup), or {"error"}. The clock is
 * CLOCK_MONOTONIC, as process.hrtime is.
 */
#include "qemu/hbitmap.h"

#include <math.h>
#include <time.h>

/* splitmix32: the state advanced by the golden-ratio increment, then murmur3's finalizer. */
static uint32_t state;

static uint32_t next_random(void)
{
	uint32_t z;

	state += 0x9e3779b9u;
	z = state;
	z = (z ^ (z >> 16)) * 0x85ebca6bu;
	z = (z ^ (z >> 13)) * 0xc2b2ae35u;
	return z ^ (z >> 16);
}

/* randomInt: floor(draw / 2^32 * n) in doubles, exactly as JavaScript computes it. */
static uint64_t rand_below(uint64_t n)
{
	return (uint64_t)floor((double)next_random() / 4294967296.0 * (double)n);
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static volatile uint64_t sink;

static void no_before(void)
{
}

/* bench/harness.ts measure(): the best ns per operation of body(n) over the samples. */
static double measure(void (*body)(uint64_t), void (*before)(void), int samples, uint64_t max_ops)
{
	const double sample_ns = 25e6, warmup_ns = 150e6;
	uint64_t n = 1;
	double start = now_ns(), best = INFINITY;
	int s;

	for (;;) {
		double t, dt;

		before();
		t = now_ns();
		body(n);
		dt = now_ns() - t;
		if (dt >= sample_ns || n >= max_ops)
			break;
		n = dt < 1e5 ? n * 8 : n * 2;
		if (n > max_ops)
			n = max_ops;
	}
	while (now_ns() - start < warmup_ns) {
		before();
		body(n);
	}
	for (s = 0; s < samples; s++) {
		double per;

		before();
		start = now_ns();
		body(n);
		per = (now_ns() - start) / (double)n;
		if (per < best)
			best = per;
	}
	return best;
}

/* bench/harness.ts once(): one untimed call, then the best time of `samples` calls. */
static double once(void (*fn)(void), int samples)
{
	double best = INFINITY;
	int s;

	fn();
	for (s = 0; s < samples; s++) {
		double t = now_ns();

		fn();
		t = now_ns() - t;
		if (t < best)
			best = t;
	}
	return best;
}

#define N_ROUND (1u << 14)

static HBitmap *hb;
static uint64_t size, scale, groups, front;
static int granularity;
static uint64_t n_bits, n_ranges, n_holes, n_taken;
static uint64_t *pos, *rs, *rl, *bs, *bl, *ws, *wl, *xs, *xl, *qs, *holes, *taken;
static uint64_t k, visited, cursor;
static uint8_t *saved;

static uint64_t *draws(uint64_t n, uint64_t below, uint64_t plus)
{
	uint64_t *a = malloc(n * sizeof(*a));
	uint64_t i;

	assert(a != NULL);
	for (i = 0; i < n; i++)
		a[i] = rand_below(below) + plus;
	return a;
}

static uint64_t align(uint64_t x)
{
	return x - x % scale;
}

/* The arrays of bench/index.ts suite(), drawn in its order from its seed (0x5eed ^ granularity). */
static void init(int quick)
{
	uint64_t i;

	scale = (uint64_t)1 << granularity;
	groups = (size + scale - 1) / scale;
	front = align((uint64_t)floor((double)size * 0.99));
	state = 0x5eed ^ (uint32_t)granularity;
	n_bits = quick ? 1 << 14 : 1 << 20;
	n_ranges = quick ? 1000 : 10000;
	pos = draws(n_bits, size, 0);
	rs = draws(n_ranges, size - 65536, 0);
	rl = draws(n_ranges, 65536, 1);
	bs = malloc(1024 * sizeof(*bs));
	bl = malloc(1024 * sizeof(*bl));
	for (i = 0; i < 1024; i++) {
		bs[i] = rand_below(size - 65536);
		bl[i] = 1 + rand_below(65536);
	}
	ws = draws(N_ROUND, size - 8192, 0);
	wl = draws(N_ROUND, 4096, 1);
	xs = draws(N_ROUND, size - 8192, 0);
	xl = draws(N_ROUND, 4096, 0);
	for (i = 0; i < N_ROUND; i++) {
		xs[i] = align(xs[i]);
		xl[i] = align(xl[i]) + scale;
	}
	qs = draws(N_ROUND, size, 0);
	n_holes = groups / 100;
	holes = draws(n_holes, groups, 0);
	for (i = 0; i < n_holes; i++)
		holes[i] *= scale;
	taken = malloc(groups / 400 * sizeof(*taken));
	hb = hbitmap_alloc(size, granularity);
}

static void set_bits(void)
{
	uint64_t i;

	for (i = 0; i < n_bits; i++)
		hbitmap_set(hb, pos[i], 1);
}

static void set_ranges(void)
{
	uint64_t i;

	for (i = 0; i < n_ranges; i++)
		hbitmap_set(hb, rs[i], rl[i]);
}

/* The word-wise walk, as the JavaScript contenders' iterate(): the caller takes bits out of words. */
static void iterate_words(void)
{
	HBitmapIter hbi;
	unsigned long cur;
	size_t w;
	uint64_t n = 0, sum = 0;

	hbitmap_iter_init(&hbi, hb, 0);
	while ((w = hbitmap_iter_next_word(&hbi, &cur)) != (size_t)-1) {
		while (cur != 0) {
			sum += ((uint64_t)w * 64 + __builtin_ctzl(cur)) << granularity;
			n++;
			cur &= cur - 1;
		}
	}
	sink += sum;
	visited = n;
}

/* One hbitmap_iter_next call per set bit. */
static void iterate_next(void)
{
	HBitmapIter hbi;
	int64_t item;
	uint64_t n = 0, sum = 0;

	hbitmap_iter_init(&hbi, hb, 0);
	while ((item = hbitmap_iter_next(&hbi, true)) >= 0) {
		sum += (uint64_t)item;
		n++;
	}
	sink += sum;
	visited = n;
}

static void count_body(uint64_t n)
{
	uint64_t i, sum = 0;

	for (i = 0; i < n; i++)
		sum += hbitmap_count(hb);
	sink += sum;
}

/* A fresh buffer each time, as the JavaScript contenders' serialize() returns one. */
static void serialize(void)
{
	uint64_t bytes = hbitmap_serialization_size(hb, 0, size);

	free(saved);
	saved = malloc(bytes);
	assert(saved != NULL);
	hbitmap_serialize_part(hb, saved, 0, size);
}

static void deserialize(void)
{
	hbitmap_deserialize_part(hb, saved, 0, size, true);
}

/* The bytes the levels hold, as hbitmap_alloc sizes them. */
static uint64_t memory(void)
{
	uint64_t bits = (size + scale - 1) >> granularity, bytes = 0;
	int i;

	for (i = 0; i < HBITMAP_LEVELS; i++) {
		bits = MAX((bits + BITS_PER_LONG - 1) >> BITS_PER_LEVEL, 1);
		bytes += bits * sizeof(unsigned long);
	}
	return bytes;
}

static void dirty_body(uint64_t n)
{
	uint64_t i, s, c, sum = 0;

	for (i = 0; i < n; i++, k = (k + 1) & (N_ROUND - 1)) {
		hbitmap_set(hb, ws[k], wl[k]);
		hbitmap_reset(hb, xs[k], xl[k]);
		s = qs[k];
		c = UINT64_MAX;
		if (hbitmap_next_dirty_area(hb, &s, &c))
			sum += s + c;
	}
	sink += sum;
}

static void next_zero_body(uint64_t n)
{
	uint64_t i, sum = 0;

	for (i = 0; i < n; i++, k = (k + 1) & (N_ROUND - 1))
		sum += (uint64_t)hbitmap_next_zero(hb, qs[k], UINT64_MAX);
	sink += sum;
}

/* QEMU has no allocate: next zero, then set the group found. */
static int64_t allocate(uint64_t start)
{
	int64_t z = hbitmap_next_zero(hb, start, UINT64_MAX);

	if (z >= 0)
		hbitmap_set(hb, (uint64_t)z, 1);
	return z;
}

static void free_taken(void)
{
	uint64_t i;

	for (i = 0; i < n_taken; i++)
		hbitmap_reset(hb, taken[i], scale);
	n_taken = 0;
}

static void allocate_body(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		int64_t z = allocate(cursor);

		if (z < 0)
			z = allocate(0);
		assert(z >= 0);
		taken[n_taken++] = (uint64_t)z;
		cursor = (uint64_t)z + scale < size ? (uint64_t)z + scale : 0;
	}
}

static void next_zero_front_body(uint64_t n)
{
	uint64_t i, sum = 0;

	for (i = 0; i < n; i++)
		sum += (uint64_t)hbitmap_next_zero(hb, 0, UINT64_MAX);
	sink += sum;
}

static void allocate_front_body(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		sink += (uint64_t)allocate(0);
}

static void refill_front(void)
{
	hbitmap_reset(hb, front, size - front);
}

static void reply(const char *op, double value, const char *unit)
{
	printf("{\"op\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"", op, value, unit);
	if (strcmp(unit, "ns/set bit") == 0)
		printf(",\"visited\":%llu", (unsigned long long)visited);
	if (strcmp(unit, "setup") == 0)
		printf(",\"count\":%llu", (unsigned long long)hbitmap_count(hb));
	printf("}\n");
	fflush(stdout);
}

/* Runs one command; returns false for an unknown one. */
static bool run(const char *op)
{
	double t;

	if (strcmp(op, "bits") == 0) {
		hbitmap_reset_all(hb);
		t = now_ns();
		set_bits();
		reply(op, (now_ns() - t) / (double)n_bits, "ns/bit");
	} else if (strcmp(op, "iterate") == 0) {
		t = once(iterate_words, 1);
		reply(op, t / (double)visited, "ns/set bit");
	} else if (strcmp(op, "iterate-next") == 0) {
		t = once(iterate_next, 1);
		reply(op, t / (double)visited, "ns/set bit");
	} else if (strcmp(op, "ranges") == 0) {
		hbitmap_reset_all(hb);
		t = now_ns();
		set_ranges();
		reply(op, (now_ns() - t) / (double)n_ranges, "ns/range");
	} else if (strcmp(op, "count") == 0) {
		reply(op, measure(count_body, no_before, 3, 1 << 22), "ns/op");
	} else if (strcmp(op, "serialize") == 0) {
		reply(op, once(serialize, 1) / 1e6, "ms");
	} else if (strcmp(op, "deserialize") == 0) {
		reply(op, once(deserialize, 1) / 1e6, "ms");
	} else if (strcmp(op, "memory") == 0) {
		reply(op, (double)memory() / (1 << 20), "MiB");
	} else if (strcmp(op, "dirty-setup") == 0) {
		uint64_t i;

		hbitmap_reset_all(hb);
		for (i = 0; i < 1024; i++)
			hbitmap_set(hb, bs[i], bl[i]);
		reply(op, 0, "setup");
	} else if (strcmp(op, "dirty") == 0) {
		reply(op, measure(dirty_body, no_before, 7, 1 << 22), "ns/round");
	} else if (strcmp(op, "scattered-setup") == 0) {
		uint64_t i;

		hbitmap_reset_all(hb);
		hbitmap_set(hb, 0, size);
		for (i = 0; i < n_holes; i++)
			hbitmap_reset(hb, holes[i], scale);
		reply(op, 0, "setup");
	} else if (strcmp(op, "next-zero") == 0) {
		reply(op, measure(next_zero_body, no_before, 7, 1 << 22), "ns/op");
	} else if (strcmp(op, "allocate") == 0) {
		reply(op, measure(allocate_body, free_taken, 7, groups / 400), "ns/op");
		free_taken();
	} else if (strcmp(op, "front-setup") == 0) {
		hbitmap_reset_all(hb);
		hbitmap_set(hb, 0, front);
		reply(op, 0, "setup");
	} else if (strcmp(op, "next-zero-front") == 0) {
		reply(op, measure(next_zero_front_body, no_before, 7, 1 << 22), "ns/op");
	} else if (strcmp(op, "allocate-front") == 0) {
		reply(op, measure(allocate_front_body, refill_front, 7, groups / 400), "ns/op");
	} else {
		return false;
	}
	return true;
}

static const char *const all[] = {
	"bits", "iterate", "ranges", "iterate", "iterate-next", "count", "serialize", "deserialize",
	"memory", "dirty-setup", "dirty", "scattered-setup", "next-zero", "allocate", "front-setup",
	"next-zero-front", "allocate-front",
};

static void command(const char *op)
{
	size_t i;

	if (strcmp(op, "all") == 0) {
		for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			run(all[i]);
	} else if (!run(op)) {
		printf("{\"error\":\"unknown command %s\"}\n", op);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	char line[256];
	int i;

	if (argc < 4) {
		fprintf(stderr, "usage: %s <size> <granularity> <quick 0|1> [command...]\n", argv[0]);
		return 2;
	}
	size = strtoull(argv[1], NULL, 10);
	granularity = atoi(argv[2]);
	if (size < 65536 || granularity < 0 || granularity > 32) {
		fprintf(stderr, "size must be >= 65536 and granularity 0..32\n");
		return 2;
	}
	init(strcmp(argv[3], "1") == 0);
	if (argc > 4) {
		for (i = 4; i < argc; i++)
			command(argv[i]);
		return 0;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = 0;
		if (strcmp(line, "quit") == 0)
			break;
		if (line[0] != 0)
			command(line);
	}
	return 0;
}
