/*
 * forger MODE: a guest that tries to make the VMM report a crash that never
 * happened, for microvm/tests/direct.rs. MODE is
 *   out     writes to the page-fault report port (0xce) itself, with a wild RSP
 *           (near 2^64: a VMM reading a "frame" there would overflow)
 *   jump    sets RSP to where the CPU would put an exception frame and jumps
 *           into the VMM's own page-fault stub
 * Neither is an exception; the VMM must say so, not print a fault.
 */
#include <string.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "out") == 0) {
        __asm__ volatile("mov $0xfffffffffffffff8, %%rsp\n\tout %%al, $0xce" ::: "memory");
    }
    if (strcmp(mode, "jump") == 0) {
        /* The kernel stack tops at 0x20000; a page fault pushes 6 words. The
         * page-fault stub is the 15th of 8-byte stubs from 0x3100. */
        __asm__ volatile("mov $0x1ffd0, %%rsp\n\tmov $0x3170, %%rax\n\tjmp *%%rax" ::: "memory");
    }
    return 2;
}
