/*
 * Hostile: tries to read the host's files, create a file (the path is argv[1], default
 * /tmp/kiln-escape), list a directory and use sockets. It prints one line per attempt, "ok" or
 * "refused" with the error, and exits with 0 only if some attempt worked, 1 when all were
 * refused.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int worked = 0;

static void report(const char *what, int ok) {
    if (ok) {
        worked++;
        printf("%s: ok\n", what);
    } else {
        printf("%s: refused (%s)\n", what, strerror(errno));
    }
}

int main(int argc, char **argv) {
    const char *target = argc > 1 ? argv[1] : "/tmp/kiln-escape";

    FILE *passwd = fopen("/etc/passwd", "r");
    report("read /etc/passwd", passwd != NULL);

    FILE *created = fopen(target, "w");
    if (created != NULL) {
        fputs("escaped\n", created);
        fclose(created);
    }
    report("create file", created != NULL);

    DIR *root = opendir("/");
    report("list /", root != NULL);

    /* WASI preview 1 has no socket(): the only way in is a socket the host pre-opened. */
    int accepted = accept(3, NULL, NULL);
    report("accept on fd 3", accepted >= 0);

    const char request[] = "GET / HTTP/1.0\r\n\r\n";
    report("send on fd 3", send(3, request, sizeof request - 1, 0) >= 0);

    return worked > 0 ? 0 : 1;
}
