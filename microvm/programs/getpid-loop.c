/*
 * getpid-loop N: N getpid system calls, timed from inside the guest, for the
 * system-call round-trip benchmark. Each call exits to the VMM and back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    printf("RESULT calls=%ld ns_per_call=%ld\n", n, n ? ns / n : 0);
    return 0;
}
