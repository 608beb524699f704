/*
 * observe: what world does this program live in? It counts what it can see:
 *
 *   kernel      uname(2): sysname and release
 *   hostname    uname(2): nodename
 *   pid         getpid(2)
 *   processes   numeric entries of /proc: the processes it can see
 *   mounts      lines of /proc/self/mounts: the file systems it can see
 *   interfaces  lines of /proc/net/dev after its two headers: network devices
 *
 * On the host these describe the host. In a container the kernel is the host's,
 * but processes, mounts, interfaces and the host name are the container's own
 * (its namespaces). In a direct micro-VM there is no kernel to ask: the VMM
 * answers uname and getpid itself, and /proc does not exist, so the counts
 * say "none": the program sees nothing but itself.
 *
 * Each observation is one INFO line, "INFO what=value"; a failure is
 * "INFO what=unavailable (reason)". It always ends with RESULT status=ok.
 */
#include "lab.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/utsname.h>

/* Lines in a file, read with plain read(2); -1 and errno if it cannot be opened. */
static long count_lines(const char *path, long skip)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[4096];
	long lines = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	int saved = errno;
	close(fd);
	errno = saved;
	if (n < 0)
		return -1;
	return lines > skip ? lines - skip : 0;
}

/* Numeric entries of /proc: one per process visible in our PID namespace. */
static long count_processes(void)
{
	DIR *dir = opendir("/proc");
	if (!dir)
		return -1;
	long count = 0;
	struct dirent *entry;
	errno = 0;
	while ((entry = readdir(dir)) != NULL) {
		const char *name = entry->d_name;
		if (*name < '0' || *name > '9')
			continue;
		while (*name >= '0' && *name <= '9')
			name++;
		count += *name == '\0';
	}
	int saved = errno;
	closedir(dir);
	errno = saved;
	return saved ? -1 : count;
}

static void report(const char *what, long value)
{
	if (value < 0)
		say("INFO %s=unavailable (%s)", what, strerror(errno));
	else
		say("INFO %s=%ld", what, value);
}

int main(void)
{
	say("READY workload=observe");
	struct utsname uts;
	if (uname(&uts) == 0) {
		say("INFO kernel=%s-%s", uts.sysname, uts.release);
		say("INFO hostname=%s", uts.nodename);
	} else {
		say("INFO kernel=unavailable (%s)", strerror(errno));
	}
	say("INFO pid=%d", (int)getpid());
	report("processes", count_processes());
	report("mounts", count_lines("/proc/self/mounts", 0));
	report("interfaces", count_lines("/proc/net/dev", 2));
	say("RESULT workload=observe status=ok");
	return 0;
}
