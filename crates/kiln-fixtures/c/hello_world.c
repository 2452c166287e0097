/* WasmWiz's hello_world sample: prints a greeting, ignores stdin. */
#include <stdio.h>

int main(void) {
    puts("Hello, World!");
    return 0;
}
