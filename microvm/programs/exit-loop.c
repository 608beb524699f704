/*
 * exit-loop N: N bare exits to the VMM, each an `outb` to port 0xf1, which the
 * VMM ignores; timed inside the guest. The floor under any system call served
 * through an exit: what one exit to the VMM and back costs on this machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) __asm__ volatile("outb %%al, $0xf1" ::: "memory");
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    printf("RESULT exits=%ld ns_per_call=%ld\n", n, n ? ns / n : 0);
    return 0;
}
