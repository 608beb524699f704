/*
 * seccomp_probe: asks the kernel for what a container should not get, and
 * prints what each request returned, one line each: "NAME ok" or
 * "NAME ERRNO_NAME". For runtime/tests/hostile_containers.rs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long rc) {
    if (rc >= 0) {
        printf("%s ok\n", name);
        return;
    }
    const char *e = errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : errno == EACCES ? "EACCES" : strerror(errno);
    printf("%s %s\n", name, e);
}

int main(void) {
    /* A user namespace, with all capabilities inside it. */
    report("unshare-user", unshare(CLONE_NEWUSER));
    /* The kernel keyring. */
    report("add_key", syscall(SYS_add_key, "user", "peti-test", "x", 1, -2 /* session */));
    report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    /* A mount namespace through clone's flags. */
    long child = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) {
        _exit(0);
    }
    if (child > 0) {
        waitpid((pid_t)child, NULL, 0);
    }
    report("clone-newns", child);
    /* clone3: ENOSYS, so that libc falls back to clone. */
    report("clone3", syscall(SYS_clone3, NULL, 0));
    /* A socket to the hypervisor. */
    long vsock = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
    report("socket-vsock", vsock);
    report("socket-inet", socket(AF_INET, SOCK_STREAM, 0));
    report("personality-linux", personality(PER_LINUX));
    report("personality-bsd", personality(0x0006 /* PER_BSD */));
    report("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
    report("getpid", getpid());
    return 0;
}
