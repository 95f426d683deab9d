/* util.h: a static inline helper, so that -O2 builds carry line rows for a header file. */
#ifndef UTIL_H
#define UTIL_H

static inline int clamp(int v, int lo, int hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return v;
}

int checksum(const unsigned char *p, int n);
int twice(int x);

#endif
