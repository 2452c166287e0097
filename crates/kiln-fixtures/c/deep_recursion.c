/*
 * Hostile: recurses without end. The call goes through a volatile function pointer so the
 * compiler cannot turn it into a loop; each frame lives on WebAssembly's own call stack, which
 * the runtime bounds (a stack overflow trap).
 */
#include <stdio.h>

static unsigned depth(unsigned n);

static unsigned (*volatile recurse)(unsigned) = depth;

static unsigned depth(unsigned n) {
    return recurse(n + 1) * 31u + n;
}

int main(void) {
    printf("%u\n", depth(0));
    return 0;
}
