/* Hostile: writes 100 MiB to stdout (1600 writes of 64 KiB), then says so on stderr. */
#include <stdio.h>
#include <string.h>

static char chunk[64 * 1024];

int main(void) {
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 1600; i++) {
        if (fwrite(chunk, 1, sizeof chunk, stdout) != sizeof chunk) {
            fprintf(stderr, "write %d failed\n", i);
            return 1;
        }
    }
    fprintf(stderr, "wrote 100 MiB\n");
    return 0;
}
