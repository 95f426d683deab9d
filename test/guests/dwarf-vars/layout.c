/* Layout probe: a freestanding program that records, for types.h's structs, member offsets,
   sizes and bit-field positions (found by setting each bit-field to all ones in a zeroed
   struct) in layout_out, four longs an entry: SIZE(T) = {sizeof, 0, 0, 0}, FIELD(T, m) =
   {offsetof, sizeof, -1, 0}, BITS(T, m) = {-1, -1, first bit from the struct's start
   (LSB-first), bit count}. The test runs it under gdb and reads layout_out; the entries'
   names come from the macro calls below, in order. */
#include <stddef.h>
#include "types.h"

long layout_out[64 * 4];
static int pos;

static void put(long a, long b, long c, long d) {
  layout_out[pos * 4] = a;
  layout_out[pos * 4 + 1] = b;
  layout_out[pos * 4 + 2] = c;
  layout_out[pos * 4 + 3] = d;
  pos++;
}

static void clear(void *p, unsigned long n) {
  volatile unsigned char *q = p;
  while (n--) *q++ = 0;
}

static long first_bit(const unsigned char *p, unsigned long n) {
  for (unsigned long i = 0; i < n * 8; i++) if (p[i / 8] >> (i % 8) & 1) return (long)i;
  return -1;
}

static long count_bits(const unsigned char *p, unsigned long n) {
  long c = 0;
  for (unsigned long i = 0; i < n * 8; i++) c += p[i / 8] >> (i % 8) & 1;
  return c;
}

#define SIZE(T) put(sizeof(struct T), 0, 0, 0)
#define FIELD(T, m) put(offsetof(struct T, m), sizeof(((struct T *)0)->m), -1, 0)
#define BITS(T, m) do { struct T s; clear(&s, sizeof s); s.m = -1; \
    put(-1, -1, first_bit((unsigned char *)&s, sizeof s), count_bits((unsigned char *)&s, sizeof s)); } while (0)

int main(void) {
  SIZE(point); FIELD(point, x); FIELD(point, y);
  SIZE(flags); BITS(flags, a); BITS(flags, b); BITS(flags, c); BITS(flags, d); BITS(flags, e);
  BITS(flags, f); BITS(flags, g); BITS(flags, h); FIELD(flags, tail);
  SIZE(packed_flags); FIELD(packed_flags, lead); BITS(packed_flags, x); BITS(packed_flags, y); FIELD(packed_flags, z);
  SIZE(node); FIELD(node, value); FIELD(node, next); FIELD(node, label);
  SIZE(outer); FIELD(outer, tag); FIELD(outer, pos); FIELD(outer, as_long); FIELD(outer, as_double);
  FIELD(outer, range); FIELD(outer, grid); FIELD(outer, callback); FIELD(outer, list);
  SIZE(with_flex); FIELD(with_flex, len);
  return pos;
}
