/*
 * Hostile: allocates and fills 1 MiB blocks until the allocator gives up. Under a memory limit
 * the guest is stopped while malloc grows the linear memory; it never gets to the final print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (1024 * 1024)

/* Where each block's address goes, so the allocations cannot be optimised away. */
void *volatile last_block;

int main(void) {
    size_t total = 0;
    for (;;) {
        char *block = malloc(BLOCK);
        if (block == NULL) {
            printf("malloc returned NULL after %zu MiB\n", total / BLOCK);
            return 1;
        }
        memset(block, 0xA5, BLOCK);
        last_block = block;
        total += BLOCK;
    }
}
