/*
 * blocker MODE: a guest that blocks the VMM in a system call it serves on the
 * host, for the --timeout tests. MODE is
 *   accept  a listening socket that nobody connects to
 *   recv    a connected socket that nobody writes to
 *   write   stdout, written until it blocks (the test never reads it)
 *   open    (for the descriptor limit) opens /data until refused; prints how many
 *   bind80  binds port 80 on loopback, a privileged port; prints what it got
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener(struct sockaddr_in *addr) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    if (s < 0 || bind(s, (struct sockaddr *)addr, len) != 0 || listen(s, 4) != 0 ||
        getsockname(s, (struct sockaddr *)addr, &len) != 0) {
        perror("listener");
        return -1;
    }
    return s;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    struct sockaddr_in addr;
    if (strcmp(mode, "accept") == 0) {
        int s = listener(&addr);
        printf("READY accepting\n");
        fflush(stdout);
        return accept(s, NULL, NULL) < 0 ? 1 : 0;
    }
    if (strcmp(mode, "recv") == 0) {
        int s = listener(&addr);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) {
            perror("connect");
            return 1;
        }
        printf("READY receiving\n");
        fflush(stdout);
        char byte;
        return recv(c, &byte, 1, 0) < 0 ? 1 : 0;
    }
    if (strcmp(mode, "write") == 0) {
        static char block[65536];
        memset(block, 'x', sizeof block);
        for (;;) {
            if (write(1, block, sizeof block) < 0) {
                return 1;
            }
        }
    }
    if (strcmp(mode, "open") == 0) {
        int n = 0;
        while (open("/data", O_RDONLY) >= 0) {
            n++;
        }
        printf("RESULT opened=%d\n", n);
        return 0;
    }
    if (strcmp(mode, "bind80") == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_port = htons(80);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = bind(s, (struct sockaddr *)&addr, sizeof addr);
        printf("RESULT bind80=%s\n", rc == 0 ? "ok" : errno == EACCES ? "EACCES" : "other");
        return 0;
    }
    fprintf(stderr, "usage: blocker accept|recv|write|open|bind80\n");
    return 2;
}
