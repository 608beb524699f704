/*
 * lab.h: what every lab workload shares.
 *
 * The workloads run three ways: on the host, in a peti container, and in a microvm
 * whose VMM serves each system call itself. So they keep to a handful of common
 * system calls: output goes through one write(2) per line (no stdio buffering, no
 * isatty ioctl), and formatting happens in memory with snprintf, which makes none.
 *
 * The output contract, which the labs parse:
 *   READY workload=NAME ...        once, when the real work starts
 *   INFO key=value ...             what this run observed (kernel, pid, timings);
 *                                  differs from one way of running to another
 *   RESULT workload=NAME ...       once, at the end; the outcome of the work itself,
 *                                  the same wherever the program runs
 * Errors go to stderr as "NAME: error: ..." with exit status 1; usage errors exit 2.
 */
#ifndef LAB_H
#define LAB_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Formats one line and writes it with as few write(2) calls as the kernel allows. */
static inline void lab_write_line(int fd, const char *fmt, va_list ap)
{
	char line[512];
	int len = vsnprintf(line, sizeof line - 1, fmt, ap);
	if (len < 0)
		return;
	if ((size_t)len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	for (int off = 0; off < len;) {
		ssize_t n = write(fd, line + off, (size_t)(len - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		off += (int)n;
	}
}

__attribute__((format(printf, 1, 2))) static inline void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lab_write_line(1, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3), noreturn)) static inline void die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lab_write_line(2, fmt, ap);
	va_end(ap);
	exit(status);
}

/* Parses a decimal argument in [min, max], or exits with a usage error naming it. */
static inline uint64_t arg_u64(const char *prog, const char *name, const char *text, uint64_t min, uint64_t max)
{
	char *end = NULL;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value < min || value > max)
		die(2, "%s: error: %s must be a whole number from %llu to %llu, got '%s'", prog, name,
		    (unsigned long long)min, (unsigned long long)max, text);
	return value;
}

static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* FNV-1a, 64-bit: a simple, well-known hash a reader can check by hand. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static inline uint64_t fnv1a(uint64_t hash, const unsigned char *bytes, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		hash ^= bytes[i];
		hash *= FNV_PRIME;
	}
	return hash;
}

#define MIB (1024ull * 1024ull)

#endif
