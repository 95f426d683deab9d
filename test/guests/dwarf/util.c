/* util.c: a second compilation unit. */
#include "util.h"

int checksum(const unsigned char *p, int n)
{
	int sum = 0;

	for (int i = 0; i < n; i++)
		sum = (sum << 1) ^ p[i];
	return clamp(sum, -1000, 1000);
}

int twice(int x) { return x * 2; }
