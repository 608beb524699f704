/*
 * peti-monitor: the small process that stays with a detached container, the way
 * conmon stays with a podman container.
 *
 * Why it exists: `peti run -d` returns at once, but someone must remain the
 * container's parent, to read what it prints and to collect its exit status
 * (only a parent can wait(2) for a child). peti sets the container up in Rust,
 * then execs this program in the same process, so the container is already
 * its child.
 *
 * Why it is C and not Rust: one monitor lives per running container, so its
 * memory is paid K times when K containers run. A static musl program of a few
 * pages keeps its resident set near 100 KiB; a Rust std binary, with its larger
 * text, starts near 1 MiB. conmon is C for the same reason.
 *
 * Contract (all set up by peti's container::monitor module):
 *   fd 3      the read end of the container's stdout pipe
 *   fd 4      the read end of the container's stderr pipe
 *   argv[1]   the container's pid (our child)
 *   argv[2]   the log file: one JSON object per line, like Docker's json-file
 *             driver: {"log":"text\n","stream":"stdout","time":"RFC 3339 nanos"}
 *   argv[3]   the exit file, written atomically once the container is reaped:
 *             {"wait_status":N,"finished_unix_nanos":T}
 *   argv[4..] optional: a command to exec afterwards (`peti rm -f ID` for --rm)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;

/* Appends `len` bytes to `out` as a JSON string body; returns the new length. */
static size_t json_escape(char *out, const char *in, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (c == '\r') {
            out[n++] = '\\';
            out[n++] = 'r';
        } else if (c == '\t') {
            out[n++] = '\\';
            out[n++] = 't';
        } else if (c < 0x20) {
            memcpy(out + n, "\\u00", 4);
            n += 4;
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* a full disk loses log lines, never the container */
        }
        buf += w;
        len -= (size_t)w;
    }
}

/* One log record per line of output; a line longer than the buffer is split,
 * as Docker splits lines longer than 16 KiB. */
static void log_line(const char *stream, const char *text, size_t len) {
    static char record[4096 * 6 + 128];
    struct timespec now;
    struct tm tm;
    char stamp[64];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t s = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + s, sizeof stamp - s, ".%09ldZ", now.tv_nsec);
    size_t n = 0;
    memcpy(record, "{\"log\":\"", 8);
    n = 8;
    n += json_escape(record + n, text, len);
    n += (size_t)snprintf(record + n, sizeof record - n, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n",
                          stream, stamp);
    write_all(log_fd, record, n);
}

struct stream {
    int fd;
    const char *name;
    char pending[4096];
    size_t used;
};

/* Reads what is available and logs every complete line. Returns 0 at EOF. */
static int drain(struct stream *s) {
    ssize_t r = read(s->fd, s->pending + s->used, sizeof s->pending - s->used);
    if (r < 0) return errno == EINTR || errno == EAGAIN;
    if (r == 0) {
        if (s->used > 0) log_line(s->name, s->pending, s->used);
        s->used = 0;
        return 0;
    }
    s->used += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < s->used; i++) {
        if (s->pending[i] == '\n') {
            log_line(s->name, s->pending + start, i + 1 - start);
            start = i + 1;
        }
    }
    if (start == 0 && s->used == sizeof s->pending) {
        log_line(s->name, s->pending, s->used);
        start = s->used;
    }
    memmove(s->pending, s->pending + start, s->used - start);
    s->used -= start;
    return 1;
}

static int write_exit_file(const char *path, int status) {
    char tmp[4096], body[128];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -1;
    int n = snprintf(body, sizeof body, "{\"wait_status\":%d,\"finished_unix_nanos\":%lld}\n",
                     status, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    write_all(fd, body, (size_t)n);
    close(fd);
    return rename(tmp, path);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        static const char usage[] =
            "peti-monitor: started by peti, not by hand (usage: PID LOG EXIT [CMD...])\n";
        write_all(2, usage, sizeof usage - 1);
        return 2;
    }
    pid_t child = (pid_t)atoi(argv[1]);
    log_fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    /* A monitor must not die of a terminal's hangup or a closed reader. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_NAME, "peti-monitor", 0, 0, 0);

    struct stream out = {.fd = 3, .name = "stdout"}, err = {.fd = 4, .name = "stderr"};
    struct pollfd fds[2] = {{.fd = 3, .events = POLLIN}, {.fd = 4, .events = POLLIN}};
    int open_streams = 2;
    while (open_streams > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        struct stream *streams[2] = {&out, &err};
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
                /* POLLNVAL: the descriptor was never open; treat it as closed
                 * rather than poll it again forever. */
                if ((fds[i].revents & POLLNVAL) || !drain(streams[i])) {
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    open_streams--;
                }
            }
        }
    }
    /* Both pipes closed: every process of the container has exited or closed
     * them. Wait for the container's first process, whose status is the
     * container's. */
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (log_fd >= 0) close(log_fd);
    if (write_exit_file(argv[3], status) != 0) return 1;
    if (argc > 4) {
        execv(argv[4], argv + 4);
        return 127;
    }
    return 0;
}
