/*
 * hello: the smallest workload. It starts, says what world it sees, and exits 0.
 *
 * What it sees is the point: the kernel release and host name come from uname(2) and
 * the process id from getpid(2). On the host these are the host's; in a container the
 * kernel is still the host's but the host name and pid are the container's own; in a
 * micro-VM all three are whatever the VM answers.
 */
#include "lab.h"
#include <sys/utsname.h>

int main(void)
{
	say("READY workload=hello");
	struct utsname uts;
	if (uname(&uts) != 0)
		die(1, "hello: error: uname failed: %s", strerror(errno));
	say("Hello from a lab workload!");
	say("INFO kernel=%s release=%s hostname=%s pid=%d", uts.sysname, uts.release, uts.nodename,
	    (int)getpid());
	say("RESULT workload=hello status=ok");
	return 0;
}
