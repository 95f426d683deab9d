/*
 * kvmdbg example guest: the 64-bit C part, entered from boot.S in long mode with paging on,
 * an identity map of the first 1 GiB, and a stack at 0x90000. No libc, no interrupts.
 *
 * It prints a few computed things on COM1 and then writes 0 to QEMU's isa-debug-exit port
 * (0xF4); kvmdbg follows QEMU's convention, so the run ends with exit status (0 << 1) | 1 = 1.
 */
#include <stdint.h>

#define COM1            0x3f8
#define COM1_LSR        (COM1 + 5)
#define LSR_THRE        0x20
#define DEBUG_EXIT_PORT 0xf4
#define EXIT_VALUE      0       /* process exit status = (EXIT_VALUE << 1) | 1 */

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static void serial_putc(char c)
{
    while (!(inb(COM1_LSR) & LSR_THRE))
        ;
    outb(COM1, (uint8_t)c);
}

static void serial_puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

/* Unsigned decimal, right-aligned in a field of `width` characters. */
static void serial_putu(uint64_t value, int width)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (width-- > n)
        serial_putc(' ');
    while (n)
        serial_putc(digits[--n]);
}

static uint64_t fibonacci(unsigned n)
{
    uint64_t a = 0, b = 1;
    for (unsigned i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}

static int is_prime(unsigned n)
{
    if (n < 2)
        return 0;
    for (unsigned d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

/* Visible to the debugger: set a breakpoint on kmain, watch `fib_sum` change. */
volatile uint64_t fib_sum;
unsigned prime_count;

static void print_fibonacci_table(void)
{
    serial_puts("kvmdbg example: Fibonacci numbers\n");
    for (unsigned row = 0; row < 4; row++) {
        serial_puts(" ");
        for (unsigned col = 0; col < 5; col++) {
            unsigned n = row * 5 + col;
            uint64_t f = fibonacci(n);
            fib_sum += f;
            serial_puts(" F(");
            serial_putu(n, 2);
            serial_puts(")=");
            serial_putu(f, 4);
        }
        serial_putc('\n');
    }
    serial_puts("  sum F(0)..F(19) = ");
    serial_putu(fib_sum, 0);
    serial_putc('\n');
}

static void print_primes(unsigned limit)
{
    serial_puts("kvmdbg example: primes below ");
    serial_putu(limit, 0);
    serial_puts(":");
    for (unsigned n = 0; n < limit; n++) {
        if (is_prime(n)) {
            serial_putc(' ');
            serial_putu(n, 0);
            prime_count++;
        }
    }
    serial_puts(" (");
    serial_putu(prime_count, 0);
    serial_puts(" primes)\n");
}

static void __attribute__((noreturn)) exit_and_halt(uint8_t value)
{
    outb(DEBUG_EXIT_PORT, value);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void kmain(void)
{
    serial_puts("kvmdbg example: hello from C in 64-bit long mode\n");
    print_fibonacci_table();
    print_primes(50);
    serial_puts("kvmdbg example: done, writing 0 to the isa-debug-exit port 0xf4\n");
    exit_and_halt(EXIT_VALUE);
}
