/* Hostile: imports a host function Kiln does not provide (`env::host_secret`). */
#include <stdio.h>

__attribute__((import_module("env"), import_name("host_secret"))) int host_secret(void);

int main(void) {
    printf("%d\n", host_secret());
    return 0;
}
