// SPDX-License-Identifier: GPL-2.0-only
/*
 * The seed's delta index (drivers/md/dm-vdo/delta-index.c, built as it is by build.sh) running the
 * workload of bench/index.ts: the same seeded generator (mulberry32), lists, keys, payloads and
 * memory size, so that the TypeScript benchmark can run it beside each of its rows and print the
 * ratio. One row per run:
 *
 *   delta-bench <volume|chapter> <entries> <cpu|wall>
 *
 * prints one JSON line: {"entries","listBits","inserts","hits","misses"} (rates per second). The
 * clock is the process's CPU time (cpu) or the monotonic clock (wall). Inserts are one pass; hits and
 * misses the best of 3 passes of min(entries, 2^20) lookups, as in the TypeScript benchmark.
 */
#include "delta-index.h"

#include <math.h>

static u32 state;

static inline u32 next_random(void)
{
	u32 t;

	state += 0x6d2b79f5u;
	t = state;
	t = (t ^ (t >> 15)) * (t | 1);
	t ^= t + (t ^ (t >> 7)) * (t | 61);
	return t ^ (t >> 14);
}

static clockid_t clock_id = CLOCK_PROCESS_CPUTIME_ID;

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(clock_id, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct config {
	const char *name;
	u32 mean_delta, payload_bits, key_bits, per_list;
};

static const struct config configs[] = {
	{ "volume", 4080, 10, 20, 257 },
	{ "chapter", 65536, 8, 22, 64 },
};

static void check(int result, const char *what)
{
	if (result != UDS_SUCCESS) {
		fprintf(stderr, "%s failed: %d\n", what, result);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const struct config *c = NULL;
	struct delta_index index;
	struct delta_index_entry entry;
	struct delta_index_stats stats;
	u32 count, list_count, key_mask, value_mask, lookups, i;
	size_t memory_size;
	double start, inserts, hits = 0, misses = 0;
	u64 used_bits = 0;
	int pass;

	if (argc != 4) {
		fprintf(stderr, "usage: %s <volume|chapter> <entries> <cpu|wall>\n", argv[0]);
		return 2;
	}
	for (i = 0; i < 2; i++)
		if (strcmp(argv[1], configs[i].name) == 0)
			c = &configs[i];
	if (c == NULL)
		return 2;
	count = (u32)strtoul(argv[2], NULL, 10);
	if (strcmp(argv[3], "wall") == 0)
		clock_id = CLOCK_MONOTONIC;

	list_count = (u32)fmax(1, round((double)count / c->per_list));
	key_mask = (u32)((1ull << c->key_bits) - 1);
	value_mask = (1u << c->payload_bits) - 1;
	memory_size = (size_t)ceil((double)uds_compute_delta_index_size(count, c->mean_delta,
								       c->payload_bits) * 1.1 / 8);
	check(uds_initialize_delta_index(&index, 1, list_count, c->mean_delta, c->payload_bits,
					 memory_size, 'm'),
	      "uds_initialize_delta_index");
	/* Map the zeroed pages before timing, as the TypeScript index does when it is made. */
	for (size_t at = 0; at < index.delta_zones[0].size; at += 4096)
		((volatile u8 *)index.delta_zones[0].memory)[at] = 0;
	uds_reset_delta_index(&index);

	state = count;
	start = now_ms();
	for (i = 0; i < count; i++) {
		u32 list = next_random() % list_count;
		u32 key = next_random() & key_mask;

		check(uds_get_delta_index_entry(&index, list, key, NULL, &entry), "get");
		if (!entry.at_end && entry.key == key)
			check(uds_set_delta_entry_value(&entry, i & value_mask), "set");
		else
			check(uds_put_delta_index_entry(&entry, key, i & value_mask, NULL), "put");
	}
	inserts = count / (now_ms() - start) * 1e3;

	lookups = count < (1u << 20) ? count : (1u << 20);
	for (pass = 0; pass < 3; pass++) {
		u32 found = 0, missed = 0;
		double rate;

		state = count;
		start = now_ms();
		for (i = 0; i < lookups; i++) {
			u32 list = next_random() % list_count;
			u32 key = next_random() & key_mask;

			check(uds_get_delta_index_entry(&index, list, key, NULL, &entry), "get");
			if (!entry.at_end && entry.key == key)
				found += uds_get_delta_entry_value(&entry) <= value_mask;
		}
		rate = lookups / (now_ms() - start) * 1e3;
		hits = rate > hits ? rate : hits;
		if (found != lookups)
			check(UDS_CORRUPT_DATA, "hits");

		state = count + 1;
		start = now_ms();
		for (i = 0; i < lookups; i++) {
			u32 list = next_random() % list_count;
			u32 key = next_random() & key_mask;

			check(uds_get_delta_index_entry(&index, list, key, NULL, &entry), "get");
			if (entry.at_end || entry.key != key)
				missed++;
			else
				missed += uds_get_delta_entry_value(&entry) > value_mask;
		}
		rate = lookups / (now_ms() - start) * 1e3;
		misses = rate > misses ? rate : misses;
		if (missed < lookups * 0.99)
			check(UDS_CORRUPT_DATA, "misses");
	}

	uds_get_delta_index_stats(&index, &stats);
	for (i = 1; i <= list_count; i++)
		used_bits += index.delta_zones[0].delta_lists[i].size;
	printf("{\"entries\":%llu,\"listBits\":%.4f,\"inserts\":%.0f,\"hits\":%.0f,\"misses\":%.0f}\n",
	       (unsigned long long)stats.record_count, (double)used_bits / stats.record_count, inserts,
	       hits, misses);
	uds_uninitialize_delta_index(&index);
	return 0;
}
