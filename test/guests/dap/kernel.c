/* The debug adapter's test guest: 64-bit C reached from a real-mode boot sector through
 * protected mode (boot.S). Lines the tests refer to carry a marker comment that the tests
 * look up, so the line numbers can move. */
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static void putc_serial(char c)
{
    outb(0x3f8, (uint8_t)c);
}

static void puts_serial(const char *s)
{
    while (*s)
        putc_serial(*s++);
}

volatile uint64_t counter;      /* written by bump(): a data breakpoint target */
uint64_t table[4] = { 10, 20, 30, 40 };

__attribute__((noinline)) int add(int a, int b)
{
    int sum = a + b;            /* MARK:add-body */
    return sum;
}

int twice(int x)
{
    int r = add(x, x);          /* MARK:twice-call */
    return r;                   /* MARK:twice-return */
}

__attribute__((noinline)) unsigned long fact(unsigned n)
{
    if (n <= 1)                 /* MARK:fact-test */
        return 1;
    return n * fact(n - 1);
}

__attribute__((noinline)) void bump(void)
{
    counter = counter + 1;      /* MARK:bump */
}

void kmain(void)
{
    int a = 2;                  /* MARK:kmain-first */
    int b = twice(a);           /* MARK:kmain-twice */

    /* a comment line between statements */
    unsigned long f = fact(5);  /* MARK:kmain-fact */
    for (int i = 0; i < 3; i++)
        bump();                 /* MARK:kmain-bump */
    if (b == 4 && f == 120 && counter == 3)
        puts_serial("dap guest ok\n");      /* MARK:kmain-ok */
    else
        puts_serial("dap guest wrong\n");
    outb(0xf4, 0x2c);           /* MARK:kmain-exit */
    for (;;)
        __asm__ volatile("cli; hlt");
}
