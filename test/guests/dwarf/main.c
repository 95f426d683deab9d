/* main.c: the call chain main -> f -> g for the symbol, line-table and CFI tests.
 * Freestanding: _start (start.S) sets up a stack and calls main. */
#include "util.h"

volatile int sink;
static unsigned char data[16] = { 1, 2, 3, 4, 5, 6, 7, 8 };

__attribute__((noinline)) int g(int x)
{
	int big[8];

	for (int i = 0; i < 8; i++)
		big[i] = x + i;
	sink = big[x & 7];

	/* a comment line between statements */

	return clamp(big[3], 0, 100);
}

__attribute__((noinline)) int f(int a, int b)
{
	int r = g(a + b);
	r += twice(r);
	return r + checksum(data, a & 15);
}

static __attribute__((noinline)) void spin(int n) { while (n-- > 0) sink++; }

int main(void)
{

	int v = f(1, 2);
	spin(v);
	return v;
}
