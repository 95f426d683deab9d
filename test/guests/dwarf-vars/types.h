/* Types shared by the guest (vars.c, other.c) and the host layout program (layout.c), which
   prints member offsets, sizes and bit-field positions for the test to check the DWARF
   reader's against. */
#ifndef DWARF_VARS_TYPES_H
#define DWARF_VARS_TYPES_H
#include <stdint.h>

enum color { RED, GREEN = 5, BLUE = -3 };
enum big { BIG_ZERO, BIG_HUGE = 0xfffffff0u };
typedef enum { MODE_A = 1, MODE_B = 2 } mode_t_;

struct point {
  int x;
  int y;
};
typedef struct point point_t;

union number {
  int32_t i;
  float f;
  unsigned char bytes[4];
};

struct flags {
  unsigned int a : 1;
  unsigned int b : 3;
  int c : 5;
  unsigned long long d : 40;
  unsigned char e : 2;
  signed char f : 3;
  _Bool g : 1;
  short h : 9;
  uint64_t tail;
};

struct __attribute__((packed)) packed_flags {
  uint8_t lead;
  uint32_t x : 7;
  uint32_t y : 20;
  uint16_t z;
};

struct node {
  int value;
  struct node *next;
  const char *label;
};

struct outer {
  char tag;
  struct point pos;
  union {
    long as_long;
    double as_double;
  };
  struct {
    short lo, hi;
  } range;
  int grid[2][3];
  void (*callback)(int);
  struct node *list;
};

struct with_flex {
  uint16_t len;
  uint8_t data[];
};

typedef unsigned int my_uint;
typedef my_uint *my_uint_ptr;
typedef int matrix_t[3][4];
typedef const volatile int cv_int;

#endif
