/*
 * peti-init: the tiny init that `peti run --init` makes a container's PID 1,
 * with the container's own program as its child, as Docker's `--init` does
 * with tini (installed as docker-init, bind-mounted at /sbin/docker-init).
 *
 * Why a container may need one: the first process of a PID namespace is that
 * namespace's init, and the kernel treats an init unlike any other process.
 *   - Signals. The kernel drops every signal sent to an init whose action for
 *     it is the default, from inside its namespace or from the host alike
 *     (only SIGKILL and SIGSTOP from the host are forced through). A program
 *     that never installs a SIGTERM handler, because the default action ends
 *     it anyway, cannot be stopped with SIGTERM when it is PID 1: `docker stop`
 *     or `peti stop` waits out its grace period, then kills it with SIGKILL,
 *     and it never gets to finish its work cleanly.
 *   - Zombies. A process whose parent exits is given to the init of its
 *     namespace. When it exits in turn, it stays a zombie (an entry in the
 *     process table, with its exit status) until its new parent collects it
 *     with wait(2). A program that does not expect children it never made
 *     never waits for them, and zombies pile up until the PID limit is hit.
 * This program is PID 1 instead: it is ready for every signal, passes each on
 * to the real program, and waits for every child, its own or adopted.
 *
 * How it catches signals: it blocks them all and takes them one by one with
 * sigwaitinfo(2). A blocked signal is never dropped, even for an init (the
 * kernel keeps it pending, since a handler could be installed before it is
 * unblocked), so no handler is needed, and no code runs at a moment a signal
 * chose: the main loop does everything in order. tini works the same way.
 *
 * Contract (see runtime/src/container/dmz.rs, which starts it):
 *   argv[1..] the program and its arguments; argv[1] is looked up in PATH
 *             as a shell would (execvp), if it holds no slash
 *   exit code the program's own, or 128+N if signal N killed it (a shell's
 *             and Docker's rule); 127 if the program is not found, 126 if it
 *             cannot be run; 125 if this program itself fails
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Linux's flag for close_range(2), which musl's headers do not define. */
#define CLOSE_RANGE_CLOEXEC (1U << 2)

/* Writes "peti-init: A B C\n" to stderr. By hand: printf would triple the
 * size of this program, as in peti-dmz. */
static void say(const char *a, const char *b, const char *c) {
    const char *parts[] = {"peti-init: ", a, b, c, "\n"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t len = strlen(parts[i]);
        while (len > 0) {
            ssize_t w = write(2, parts[i], len);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return;
            parts[i] += w;
            len -= (size_t)w;
        }
    }
}

/* The program gets only its standard streams, as it does without --init:
 * peti closes everything else at its own exec, but this program was run from
 * a memfd that had to stay open across peti-dmz's exec (see dmz.rs), and its
 * descriptor would otherwise reach the program. */
static void close_on_exec_above_stderr(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    /* Kernels before 5.11: peti opens few descriptors, all of them low. */
    for (int fd = 3; fd < 1024; fd++) {
        fcntl(fd, F_SETFD, FD_CLOEXEC); /* EBADF for a closed one: fine */
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        say("started by peti, not by hand (usage: peti-init PROGRAM [ARG...])", "", "");
        return 125;
    }
    /* Run from a memfd, this process is named after the descriptor's number;
     * ps and top should show what it is. */
    prctl(PR_SET_NAME, "peti-init", 0, 0, 0);
    close_on_exec_above_stderr();

    /* Every signal blocked, to be taken by sigwaitinfo below. peti blocked
     * them all before the exec already, so that none sent before this line
     * was lost (see block_signals_for_init in process.rs); the ones below
     * are unblocked again. The mask is inherited by the child across fork,
     * which clears it before its exec: a container's program starts with
     * nothing blocked, as Docker's do. The signals the kernel
     * raises for a fault of this process itself (and SIGABRT, abort()'s) stay
     * unblocked, as tini leaves them: blocking them would not stop them, the
     * kernel would still kill this process, at once. */
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    int faults[] = {SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        sigdelset(&all, faults[i]);
    }
    if (sigprocmask(SIG_SETMASK, &all, NULL) != 0) {
        say("sigprocmask: ", strerror(errno), "");
        return 125;
    }

    /* With a terminal of the container's own (-t), peti made this process
     * the leader of a new session, which the terminal belongs to. Without
     * -t, the terminal, if any, is the caller's, not the container's to
     * hand out. */
    int owns_terminal = getsid(0) == getpid() && isatty(0);

    pid_t child = fork();
    if (child < 0) {
        say("fork: ", strerror(errno), "");
        return 125;
    }
    if (child == 0) {
        /* A process group of its own: a signal the terminal sends to this
         * init's group (Ctrl-C) then reaches the program once, forwarded,
         * not twice. */
        setpgid(0, 0);
        /* The container's terminal goes to the program's group: Ctrl-C and
         * Ctrl-Z reach it, and it may read the terminal. A background group
         * may take the terminal only with SIGTTOU blocked, as it still is. */
        if (owns_terminal) {
            tcsetpgrp(0, getpid());
        }
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[1], argv + 1);
        int failed = errno;
        say(argv[1], ": ", strerror(failed));
        _exit(failed == ENOENT ? 127 : 126);
    }

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) {
            if (errno == EINTR) continue;
            say("sigwaitinfo: ", strerror(errno), "");
            return 125;
        }
        if (sig != SIGCHLD) {
            /* TERM, INT, HUP, QUIT, USR1, USR2, WINCH, real-time signals...:
             * all are the program's. If it has just exited (ESRCH), its
             * SIGCHLD is next. */
            kill(child, sig);
            continue;
        }
        /* One SIGCHLD may stand for many exits: pending standard signals do
         * not queue. So reap until no ended child is left: the program, and
         * every orphan the kernel gave this init. */
        int code = -1;
        for (;;) {
            int status;
            pid_t ended = waitpid(-1, &status, WNOHANG);
            if (ended <= 0) break; /* 0: children left, none ended; -1: none left */
            if (ended == child) {
                code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
        }
        /* The program is the container: when it ends, so does this init, and
         * the kernel kills whatever is left in the namespace. */
        if (code >= 0) return code;
    }
}
