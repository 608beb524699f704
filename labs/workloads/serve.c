/*
 * serve PORT [COUNT]: a tiny HTTP/1.0 server on 0.0.0.0:PORT. Every request gets the
 * same short page. With COUNT it exits after that many requests, which is what tests
 * and labs use; without it, it serves until killed.
 *
 * PORT 0 asks the kernel for a free port; the READY line says which one was given.
 * One request at a time, no threads, no poll: the fewest system calls a server needs
 * (socket, setsockopt, bind, listen, accept, read, write, close).
 */
#include "lab.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static const char page[] = "hello from the lab serve workload\n";

static void answer(int conn)
{
	char request[2048];
	/* Read until the end of the request head, or until the buffer is full. */
	size_t got = 0;
	while (got < sizeof request - 1) {
		ssize_t n = read(conn, request + got, sizeof request - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		request[got] = '\0';
		if (strstr(request, "\r\n\r\n") || strstr(request, "\n\n"))
			break;
	}
	char reply[256];
	int len = snprintf(reply, sizeof reply,
			   "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			   "Connection: close\r\n\r\n%s",
			   sizeof page - 1, page);
	for (int off = 0; off < len;) {
		ssize_t n = write(conn, reply + off, (size_t)(len - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (int)n;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3)
		die(2, "usage: serve PORT [COUNT]");
	uint64_t port = arg_u64("serve", "PORT", argv[1], 0, 65535);
	uint64_t count = argc == 3 ? arg_u64("serve", "COUNT", argv[2], 1, 1u << 30) : 0;

	int sock = socket(AF_INET, SOCK_STREAM, 0);
	if (sock < 0)
		die(1, "serve: error: socket: %s", strerror(errno));
	int one = 1;
	setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				    .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (bind(sock, (struct sockaddr *)&addr, sizeof addr) != 0)
		die(1, "serve: error: cannot bind port %llu: %s", (unsigned long long)port, strerror(errno));
	if (listen(sock, 64) != 0)
		die(1, "serve: error: listen: %s", strerror(errno));
	socklen_t addr_len = sizeof addr;
	getsockname(sock, (struct sockaddr *)&addr, &addr_len);

	say("READY workload=serve port=%u", (unsigned)ntohs(addr.sin_port));
	uint64_t served = 0;
	while (count == 0 || served < count) {
		int conn = accept(sock, NULL, NULL);
		if (conn < 0) {
			if (errno == EINTR)
				continue;
			die(1, "serve: error: accept: %s", strerror(errno));
		}
		answer(conn);
		close(conn);
		served++;
	}
	close(sock);
	say("RESULT workload=serve requests=%llu", (unsigned long long)served);
	return 0;
}
