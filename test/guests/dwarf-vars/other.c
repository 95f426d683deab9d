/* The second unit: a file-static of the same name as one in vars.c, a global defined here
   and declared there, and the memory functions freestanding code must provide. */
#include <stddef.h>
#include "types.h"

int other_global = 1234;
struct point other_points[2] = { { -1, -2 }, { -3, -4 } };
static int s_counter = 3;
static const char *s_label = "other";

__attribute__((noinline)) int other_function(int v) {
  int local = v + s_counter;
  s_counter++;
  __asm__ volatile("" : : "g"(local) : "memory");
  return local + (s_label[0] == 'o');
}

void *memcpy(void *dst, const void *src, size_t n) {
  volatile unsigned char *d = dst;
  const volatile unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  volatile unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}
