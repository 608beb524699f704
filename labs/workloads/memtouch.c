/*
 * memtouch MIB [HOLD_SECONDS]: allocates MIB mebibytes, writes one byte in every 4 KiB
 * page so that the kernel (or the VMM) must really back each page, then reports.
 *
 * Allocation alone costs almost nothing: memory is only committed when touched. That is
 * why the memory lab measures what was touched, not what was asked for. With
 * HOLD_SECONDS the program keeps the memory that long before it reports and exits, so
 * that many instances can be alive at once for the density lab.
 */
#include "lab.h"

#define PAGE 4096u

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3)
		die(2, "usage: memtouch MIB [HOLD_SECONDS]");
	uint64_t mib = arg_u64("memtouch", "MIB", argv[1], 1, 1u << 20);
	uint64_t hold = argc == 3 ? arg_u64("memtouch", "HOLD_SECONDS", argv[2], 0, 86400) : 0;

	say("READY workload=memtouch mib=%llu", (unsigned long long)mib);
	size_t bytes = (size_t)(mib * MIB);
	unsigned char *mem = malloc(bytes);
	if (mem == NULL)
		die(1, "memtouch: error: cannot allocate %llu MiB", (unsigned long long)mib);

	uint64_t start = monotonic_ns();
	size_t pages = bytes / PAGE;
	for (size_t p = 0; p < pages; p++)
		mem[p * PAGE] = (unsigned char)(p * 13 + 1);
	/* Read every touched byte back, so the work cannot be optimised away. */
	uint64_t checksum = FNV_OFFSET;
	for (size_t p = 0; p < pages; p++)
		checksum = fnv1a(checksum, &mem[p * PAGE], 1);
	uint64_t elapsed = monotonic_ns() - start;

	say("INFO touch_ns=%llu", (unsigned long long)elapsed);
	if (hold > 0) {
		struct timespec ts = { .tv_sec = (time_t)hold, .tv_nsec = 0 };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		}
	}
	say("RESULT workload=memtouch mib=%llu pages=%llu checksum=%016llx", (unsigned long long)mib,
	    (unsigned long long)pages, (unsigned long long)checksum);
	free(mem);
	return 0;
}
