/*
 * /init of the initramfs that `microvm initramfs` builds from a container image.
 *
 * The kernel runs it as pid 1 once it has unpacked the initramfs. It does what
 * a container runtime does before exec, the VM way:
 *   1. mounts /proc, /sys and /dev (the kernel's own, devtmpfs);
 *   2. marks the boot timer: the value 123 written to MMIO 0xC000_0000 (through
 *      /dev/mem), which microvm timestamps;
 *   3. runs the image's command, read from /microvm/argv (NUL-separated), with
 *      the environment in /microvm/env and the working directory in
 *      /microvm/workdir, its output going to the console;
 *   4. prints "microvm-init: exit N", and ends the VM with reboot(2): with the
 *      kernel command line `reboot=k` the kernel resets the machine through the
 *      i8042 keyboard controller, which microvm takes as the VM's clean end.
 *
 * It is C, static (musl), for the same reason the workloads are: a program the
 * kernel can run with no dynamic loader and nothing else in the image.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BOOT_TIMER_ADDR 0xc0000000UL
#define BOOT_TIMER_MARK 123
#define MAX_ARGS 256

static void say(const char *text) {
    (void)!write(1, text, strlen(text));
}

static void mark_boot_timer(void) {
    int fd = open("/dev/mem", O_RDWR | O_SYNC);
    if (fd < 0) {
        say("microvm-init: no /dev/mem: boot timer not marked\n");
        return;
    }
    volatile unsigned char *timer =
        mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, fd, (off_t)BOOT_TIMER_ADDR);
    if (timer == MAP_FAILED) {
        say("microvm-init: cannot map the boot timer\n");
    } else {
        *timer = BOOT_TIMER_MARK;
        munmap((void *)timer, 4096);
    }
    close(fd);
}

/* Reads a file of NUL-separated strings into a NULL-terminated vector. */
static char **read_strings(const char *path, char *buffer, size_t size) {
    static char *vector[2][MAX_ARGS + 1];
    static int which;
    char **out = vector[which++ & 1];
    int n = 0;
    int fd = open(path, O_RDONLY);
    ssize_t len = fd < 0 ? 0 : read(fd, buffer, size - 1);
    if (fd >= 0) close(fd);
    if (len < 0) len = 0;
    buffer[len] = 0;
    for (ssize_t i = 0; i < len && n < MAX_ARGS; i += (ssize_t)strlen(buffer + i) + 1) {
        out[n++] = buffer + i;
    }
    out[n] = NULL;
    return out;
}

int main(void) {
    static char argv_buffer[65536], env_buffer[65536], workdir[4096];
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mark_boot_timer();

    char **argv = read_strings("/microvm/argv", argv_buffer, sizeof argv_buffer);
    char **envp = read_strings("/microvm/env", env_buffer, sizeof env_buffer);
    int fd = open("/microvm/workdir", O_RDONLY);
    ssize_t len = fd < 0 ? 0 : read(fd, workdir, sizeof workdir - 1);
    if (fd >= 0) close(fd);
    workdir[len > 0 ? len : 0] = 0;

    int status = 127;
    if (argv[0] == NULL) {
        say("microvm-init: no command in /microvm/argv\n");
    } else {
        pid_t child = fork();
        if (child == 0) {
            if (workdir[0]) (void)!chdir(workdir);
            execve(argv[0], argv, envp);
            /* Not a path: look it up in the image's PATH, as a shell would. */
            for (char **e = envp; *e; e++) {
                if (!strncmp(*e, "PATH=", 5)) setenv("PATH", *e + 5, 1);
            }
            if (!strchr(argv[0], '/')) execvpe(argv[0], argv, envp);
            say("microvm-init: cannot run the command\n");
            _exit(127);
        }
        int raw = 0;
        while (child > 0 && waitpid(child, &raw, 0) < 0) {
        }
        status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    }
    char line[64];
    snprintf(line, sizeof line, "microvm-init: exit %d\n", status);
    say(line);
    sync();
    reboot(RB_AUTOBOOT);
    return 0;
}
