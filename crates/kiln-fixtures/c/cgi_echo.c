/*
 * A CGI-style handler: prints CGI response headers (Content-Type, Status and a few X- headers
 * echoing the request's CGI variables), a blank line, then copies the request body (stdin) to
 * the response body.
 */
#include <stdio.h>
#include <stdlib.h>

static const char *var(const char *name) {
    const char *value = getenv(name);
    return value != NULL ? value : "";
}

int main(void) {
    printf("Content-Type: text/plain; charset=utf-8\r\n");
    printf("Status: 200 OK\r\n");
    printf("X-Request-Method: %s\r\n", var("REQUEST_METHOD"));
    printf("X-Path-Info: %s\r\n", var("PATH_INFO"));
    printf("X-Query-String: %s\r\n", var("QUERY_STRING"));
    printf("X-Content-Length: %s\r\n", var("CONTENT_LENGTH"));
    printf("\r\n");
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, stdin)) > 0) {
        fwrite(buffer, 1, n, stdout);
    }
    return 0;
}
