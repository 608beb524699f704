/*
 * peti-dmz: the one program that peti execs inside a container, and that execs
 * the container's own program in turn.
 *
 * Why it exists (CVE-2019-5736): until its execve, the process that becomes a
 * container's program is peti itself, so /proc/PID/exe is the host's peti
 * binary. If the program peti execs is a script starting `#!/proc/self/exe`,
 * the kernel runs that same peti binary again, now inside the container and
 * under its control, where any process of the container can open it through
 * /proc/PID/exe and, once it stops running, write to it: the host's peti,
 * replaced by the container. So peti never execs the program itself. It writes
 * this small program into a sealed memfd (no write, grow or shrink is possible
 * any more) and execs that; this program then execs the container's. While it
 * runs, /proc/self/exe is the sealed copy, and so is what a `#!/proc/self/exe`
 * line would run: there is no path left to the host binary. runc 1.2 does the
 * same with its runc-dmz. (The other half, the moment before this exec, when
 * the process is still peti: peti makes itself non-dumpable there, so that no
 * container process may open its /proc/PID/exe at all.)
 *
 * Contract (see runtime/src/container/dmz.rs):
 *   argv[0]   "peti-dmz", or it refuses: a `#!/proc/self/exe` line would start
 *             it with another argv[0], and then there is nothing to run
 *   argv[1]   the start-up channel's descriptor: on success, execve closes it
 *             (it is set close-on-exec here); on failure, one message goes to
 *             peti first, {"ExecFailed":{"errno":N}}, which peti turns into
 *             Docker's exit code and text
 *   argv[2]   the path of the program to run, found by peti
 *   argv[3..] the program's own argv, its argv[0] first
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv, char **envp) {
    if (argc < 4 || strcmp(argv[0], "peti-dmz") != 0) {
        static const char refused[] =
            "peti-dmz: not started by peti (a `#!/proc/self/exe` script?): nothing to run\n";
        if (write(2, refused, sizeof refused - 1) < 0) {
            return 126;
        }
        return 126;
    }
    char *end = NULL;
    long channel = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || channel < 3 || channel > 65535) {
        return 126;
    }
    if (fcntl((int)channel, F_SETFD, FD_CLOEXEC) < 0) {
        return 126;
    }
    execve(argv[2], argv + 3, envp);
    int failed = errno;
    /* Formatted by hand: printf would triple the size of this program. */
    char message[48] = "{\"ExecFailed\":{\"errno\":";
    size_t len = strlen(message);
    char digits[12];
    size_t n = 0;
    unsigned value = (unsigned)failed;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0 && n < sizeof digits);
    while (n > 0) {
        message[len++] = digits[--n];
    }
    message[len++] = '}';
    message[len++] = '}';
    if (write((int)channel, message, len) < 0) {
        return 126;
    }
    return failed == ENOENT ? 127 : 126;
}
