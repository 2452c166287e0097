/*
 * WasmWiz's echo sample: reads all of stdin and prints it back without leading or trailing
 * whitespace and without a final newline, as the original (Rust, `print!("{}", input.trim())`)
 * does. Unlike the original, it passes bytes that are not UTF-8 through instead of panicking,
 * and trims only ASCII whitespace.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    size_t capacity = 4096, length = 0, n;
    unsigned char *input = malloc(capacity);
    if (input == NULL) {
        return 1;
    }
    while ((n = fread(input + length, 1, capacity - length, stdin)) > 0) {
        length += n;
        if (length == capacity) {
            capacity *= 2;
            unsigned char *grown = realloc(input, capacity);
            if (grown == NULL) {
                return 1;
            }
            input = grown;
        }
    }
    size_t start = 0, end = length;
    while (start < end && isspace(input[start])) {
        start++;
    }
    while (end > start && isspace(input[end - 1])) {
        end--;
    }
    fwrite(input + start, 1, end - start, stdout);
    return ferror(stdin) ? 1 : 0;
}
