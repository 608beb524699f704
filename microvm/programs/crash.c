/* crash: writes through a null pointer. In a direct VM: a page fault, 139. */
int main(void) {
    *(volatile int *)0 = 1;
    return 0;
}
