/*
 * A hostile direct guest: system calls with wild pointers, bad descriptors,
 * huge lengths, paths it was not granted. Each check prints
 * "CHECK name got=N want=N", and the test wants every one to match. The VMM
 * must answer each with an error and stay up.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long raw(long n, long a, long b, long c, long d, long e) {
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return r;
}

static void check(const char *name, long got, long want) {
    char line[160];
    int n = snprintf(line, sizeof line, "CHECK %s got=%ld want=%ld\n", name, got, want);
    raw(1, 1, (long)line, n, 0, 0);
}

#define EBADF_ 9
#define EACCES_ 13
#define EFAULT_ 14
#define EINVAL_ 22
#define ENOENT_ 2
#define ENAMETOOLONG_ 36
#define ENOSYS_ 38
#define ERANGE_ 34

static char long_path[5000];

int main(void) {
    char buf[64] = "x";
    long iov_bad[2] = {0x1000, 8};
    check("write-beyond-memory", raw(1, 1, 0xdead00000000L, 10, 0, 0), -EFAULT_);
    check("write-vmm-area", raw(1, 1, 0x1000, 10, 0, 0), -EFAULT_);
    check("write-huge-length", raw(1, 1, (long)buf, 1L << 62, 0, 0), -EFAULT_);
    check("write-wrapping", raw(1, 1, -16L, 64, 0, 0), -EFAULT_);
    check("read-into-vmm-area", raw(0, 0, 0x1000, 10, 0, 0), -EFAULT_);
    check("write-bad-fd", raw(1, 99, (long)buf, 1, 0, 0), -EBADF_);
    check("write-negative-fd", raw(1, -1, (long)buf, 1, 0, 0), -EBADF_);
    check("close-bad-fd", raw(3, 99, 0, 0, 0, 0), -EBADF_);
    check("open-not-granted", raw(2, (long)"/etc/passwd", O_RDONLY, 0, 0, 0), -ENOENT_);
    check("open-climbing", raw(2, (long)"../../etc/passwd", O_RDONLY, 0, 0, 0), -ENOENT_);
    check("open-path-in-vmm-area", raw(2, 0x10, O_RDONLY, 0, 0, 0), -EFAULT_);
    memset(long_path, 'a', sizeof long_path);
    check("open-path-too-long", raw(2, (long)long_path, O_RDONLY, 0, 0, 0), -ENAMETOOLONG_);
    check("open-ro-grant-for-writing", raw(2, (long)"/granted-ro", O_WRONLY, 0, 0, 0), -EACCES_);
    long fd = raw(2, (long)"/granted-ro", O_RDONLY, 0, 0, 0);
    check("open-ro-grant-for-reading", fd >= 3, 1);
    check("write-to-read-only-fd", raw(1, fd, (long)buf, 1, 0, 0), -EBADF_);
    check("uname-into-vmm-area", raw(63, 0x1000, 0, 0, 0, 0), -EFAULT_);
    check("clock-gettime-wild", raw(228, 0, 0xdead00000000L, 0, 0, 0), -EFAULT_);
    check("writev-wild-iov", raw(20, 1, (long)iov_bad, 1, 0, 0), -EFAULT_);
    check("writev-too-many", raw(20, 1, (long)iov_bad, 100000, 0, 0), -EINVAL_);
    check("mmap-fixed", raw(9, 0x10000000, 4096, 3, 0x32, -1), -EINVAL_);
    check("mmap-file", raw(9, 0, 4096, 1, 0x02, 0), -EACCES_);
    check("arch-prctl-unknown", raw(158, 0x9999, 0, 0, 0, 0), -EINVAL_);
    check("unknown-syscall", raw(999, 0, 0, 0, 0, 0), -ENOSYS_);
    long brk = raw(12, 0, 0, 0, 0, 0);
    check("brk-too-far", raw(12, brk + (1L << 40), 0, 0, 0, 0) == brk, 1);
    long bad_sleep[2] = {0, 2000000000L};
    check("nanosleep-bad-nsec", raw(35, (long)bad_sleep, 0, 0, 0, 0), -EINVAL_);
    check("getrandom", raw(318, (long)buf, 16, 0, 0, 0), 16);
    check("getpid", raw(39, 0, 0, 0, 0, 0), 1);
    check("getuid", raw(102, 0, 0, 0, 0, 0), 0);
    check("getegid", raw(108, 0, 0, 0, 0, 0), 0);
    char cwd[16];
    check("getcwd", raw(79, (long)cwd, sizeof cwd, 0, 0, 0), 2);
    check("getcwd-is-root", strcmp(cwd, "/") == 0, 1);
    check("getcwd-small-buffer", raw(79, (long)cwd, 1, 0, 0, 0), -ERANGE_);
    check("getcwd-wild", raw(79, 0xdead00000000L, 16, 0, 0, 0), -EFAULT_);
    long tv[2] = {0, -1}, ts[2] = {0, 0}, stored = 0;
    check("gettimeofday", raw(96, (long)tv, 0, 0, 0, 0), 0);
    check("gettimeofday-usec", tv[1] >= 0 && tv[1] < 1000000, 1);
    check("gettimeofday-wild", raw(96, 0xdead00000000L, 0, 0, 0, 0), -EFAULT_);
    raw(228, 0, (long)ts, 0, 0, 0); /* CLOCK_REALTIME */
    long now = raw(201, (long)&stored, 0, 0, 0, 0);
    check("time-agrees-with-clock-gettime", now - ts[0] >= 0 && now - ts[0] <= 1, 1);
    check("time-agrees-with-gettimeofday", now - tv[0] >= 0 && now - tv[0] <= 1, 1);
    check("time-stored", stored == now, 1);
    check("time-wild", raw(201, 0xdead00000000L, 0, 0, 0, 0), -EFAULT_);
    raw(1, 1, (long)"HOSTILE done\n", 13, 0, 0);
    return 0;
}
