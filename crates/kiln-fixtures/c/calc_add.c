/*
 * WasmWiz's calc_add sample: reads whitespace-separated tokens from stdin, keeps those that are
 * 32-bit integers, and prints the (wrapping) sum of the first two. Fewer than two integers: an
 * error on stderr and exit code 1, as the original does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Parses a whole token as an int32 (an optional sign, then digits); 0 if it is not one. */
static int parse_i32(const char *token, int32_t *out) {
    const char *digits = (*token == '+' || *token == '-') ? token + 1 : token;
    if (*digits < '0' || *digits > '9') {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long value = strtoll(token, &end, 10);
    if (errno != 0 || *end != '\0' || value < INT32_MIN || value > INT32_MAX) {
        return 0;
    }
    *out = (int32_t)value;
    return 1;
}

int main(void) {
    char token[64];
    int32_t numbers[2];
    int found = 0;
    while (found < 2 && scanf("%63s", token) == 1) {
        if (parse_i32(token, &numbers[found])) {
            found++;
        }
    }
    if (found < 2) {
        fprintf(stderr, "Error: Please provide at least two numbers\n");
        return 1;
    }
    printf("%d\n", (int32_t)((uint32_t)numbers[0] + (uint32_t)numbers[1]));
    return 0;
}
