/*
 * fileio MIB [PATH]: writes MIB mebibytes to a file (default /tmp/fileio-PID.dat),
 * reads it back, checks that what came back is what went in, and removes the file.
 *
 * The data is a fixed pattern, so the checksum is the same wherever it runs. The
 * file goes through the file system each way provides: the host's, a container's
 * overlay upper directory, or whatever a micro-VM's VMM grants.
 */
#include "lab.h"
#include <fcntl.h>

#define CHUNK (64u * 1024u)

static unsigned char chunk[CHUNK];
static unsigned char back[CHUNK];

static void fill_chunk(uint64_t index)
{
	for (size_t j = 0; j < CHUNK; j++)
		chunk[j] = (unsigned char)(index * 131 + j * 7);
}

static void write_all(int fd, const unsigned char *buf, size_t len, const char *path)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(1, "fileio: error: writing %s: %s", path, n < 0 ? strerror(errno) : "short write");
		buf += n;
		len -= (size_t)n;
	}
}

static size_t read_full(int fd, unsigned char *buf, size_t len, const char *path)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(1, "fileio: error: reading %s: %s", path, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return got;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3)
		die(2, "usage: fileio MIB [PATH]");
	uint64_t mib = arg_u64("fileio", "MIB", argv[1], 1, 1u << 16);
	char default_path[64];
	snprintf(default_path, sizeof default_path, "/tmp/fileio-%d.dat", (int)getpid());
	const char *path = argc == 3 ? argv[2] : default_path;
	uint64_t chunks = mib * MIB / CHUNK;

	say("READY workload=fileio mib=%llu path=%s", (unsigned long long)mib, path);
	uint64_t start = monotonic_ns();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(1, "fileio: error: cannot create %s: %s", path, strerror(errno));
	uint64_t written = FNV_OFFSET;
	for (uint64_t c = 0; c < chunks; c++) {
		fill_chunk(c);
		written = fnv1a(written, chunk, CHUNK);
		write_all(fd, chunk, CHUNK, path);
	}
	close(fd);
	uint64_t write_ns = monotonic_ns() - start;

	start = monotonic_ns();
	fd = open(path, O_RDONLY);
	if (fd < 0)
		die(1, "fileio: error: cannot reopen %s: %s", path, strerror(errno));
	uint64_t read_back = FNV_OFFSET;
	uint64_t total = 0;
	for (;;) {
		size_t n = read_full(fd, back, CHUNK, path);
		if (n == 0)
			break;
		read_back = fnv1a(read_back, back, n);
		total += n;
	}
	close(fd);
	uint64_t read_ns = monotonic_ns() - start;
	/* Best effort: a VMM that grants only reads and writes may not offer unlink. */
	unlink(path);

	if (total != chunks * CHUNK || read_back != written)
		die(1, "fileio: error: %s read back %llu bytes with checksum %016llx, wrote %llu with %016llx",
		    path, (unsigned long long)total, (unsigned long long)read_back,
		    (unsigned long long)(chunks * CHUNK), (unsigned long long)written);
	say("INFO write_ns=%llu read_ns=%llu", (unsigned long long)write_ns, (unsigned long long)read_ns);
	say("RESULT workload=fileio mib=%llu bytes=%llu checksum=%016llx", (unsigned long long)mib,
	    (unsigned long long)total, (unsigned long long)written);
	return 0;
}
