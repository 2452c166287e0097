/*
 * Prints what the host gave the program: argc, each argument, then each environment variable,
 * one per line. Exits with the value of the EXIT_CODE variable when it is set.
 */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) {
        printf("argv[%d]=%s\n", i, argv[i]);
    }
    for (char **var = environ; *var != NULL; var++) {
        printf("env %s\n", *var);
    }
    const char *code = getenv("EXIT_CODE");
    return code != NULL ? atoi(code) : 0;
}
