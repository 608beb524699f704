/*
 * compute N: deterministic CPU work. Hashes N MiB of a fixed byte pattern with
 * FNV-1a and prints the checksum, so any way of running it must give the same answer.
 *
 * The pattern is one 64 KiB block, byte j = (j * 31 + 7) mod 256, hashed over and over.
 * It needs no memory beyond that block and no system call during the work, so it
 * measures the CPU each way runs on, not the I/O path.
 */
#include "lab.h"

static unsigned char block[64 * 1024];

int main(int argc, char **argv)
{
	if (argc != 2)
		die(2, "usage: compute MIB    (hash MIB mebibytes of a fixed pattern)");
	uint64_t mib = arg_u64("compute", "MIB", argv[1], 1, 1u << 20);

	for (size_t j = 0; j < sizeof block; j++)
		block[j] = (unsigned char)(j * 31 + 7);

	say("READY workload=compute mib=%llu", (unsigned long long)mib);
	uint64_t start = monotonic_ns();
	uint64_t hash = FNV_OFFSET;
	uint64_t blocks = mib * MIB / sizeof block;
	for (uint64_t b = 0; b < blocks; b++)
		hash = fnv1a(hash, block, sizeof block);
	uint64_t elapsed = monotonic_ns() - start;

	say("INFO elapsed_ns=%llu", (unsigned long long)elapsed);
	say("RESULT workload=compute mib=%llu checksum=%016llx", (unsigned long long)mib,
	    (unsigned long long)hash);
	return 0;
}
