/* Hostile: spins forever without a system call (only a time limit stops it). */
int main(void) {
    volatile unsigned long long spins = 0;
    for (;;) {
        spins++;
    }
}
