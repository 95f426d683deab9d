/* The main unit of the DWARF variables test program: globals of every kind of type, and
   functions whose parameters and locals the test locates (at every instruction, under gdb).
   Lines marked STOP are where the test also stops by line. */
#include <stdint.h>
#include <stddef.h>
#include "types.h"

#ifdef __clang__
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif
/* Keeps a value alive (and in a register or memory) where the optimizer would drop it. */
#define KEEP(x) __asm__ volatile("" : : "g"(x) : "memory")

int add(int a, int b);
int other_function(int v);
extern int asm_var;
extern int other_global;
extern struct point other_points[];

/* Globals of the base types. */
int g_int = -42;
unsigned int g_uint = 4000000000u;
char g_char = 'A';
signed char g_schar = -5;
unsigned char g_uchar = 200;
short g_short = -1234;
unsigned short g_ushort = 60000;
long g_long = -123456789L;
unsigned long g_ulong = 123456789UL;
long long g_llong = -1234567890123LL;
unsigned long long g_ullong = 12345678901234ULL;
float g_float = 1.5f;
double g_double = -2.25;
_Bool g_bool = 1;
uint32_t g_u32 = 0xdeadbeefu;
int64_t g_i64 = -7;
uint8_t g_u8 = 0x80;

/* Enums, aggregates, pointers. */
enum color g_color = GREEN;
enum big g_big = BIG_HUGE;
mode_t_ g_mode = MODE_B;
struct point g_point = { 3, -4 };
point_t g_points[2] = { { 1, 2 }, { 3, 4 } };
int g_matrix[3][4] = { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 } };
matrix_t g_matrix_t;
char g_name[16] = "kvmdbg";
const char *g_str = "hello";
char *const g_cptr = g_name;
int *g_iptr = &g_int;
void *g_vptr;
struct node g_nodes[3] = { { 1, &g_nodes[1], "one" }, { 2, &g_nodes[2], "two" }, { 3, 0, "three" } };
struct node *g_head = &g_nodes[0];
union number g_num = { .i = 0x3fc00000 };
struct flags g_flags = { 1, 5, -3, 0x123456789aull, 2, -2, 1, -200, 77 };
struct packed_flags g_pflags = { 0xaa, 100, 0xabcde, 0x1234 };
struct outer g_outer = { 'o', { 7, 8 }, { .as_long = 99 }, { -1, 1 }, { { 1, 2, 3 }, { 4, 5, 6 } }, 0, &g_nodes[1] };
int (*g_fn)(int, int) = add;
int (*g_arrp)[4] = &g_matrix[1];
char **g_pp;
my_uint g_my_uint = 17;
my_uint_ptr g_my_uint_ptr = &g_my_uint;
cv_int g_cv = 3;
volatile int g_volatile = 11;
const int g_const = 99;
struct opaque *g_opaque;
struct with_flex *g_flex;
static int s_counter = 7;
static const int s_table[4] = { 10, 20, 30, 40 };
#ifdef __x86_64__
__int128 g_i128 = -5;
#endif
long double g_ldouble = 0.5L;

NOINLINE int add(int a, int b) {
  int c = a + b;
  KEEP(c);
  return c; /* STOP add */
}

/* Nested blocks and shadowing. */
NOINLINE long scopes(int n) {
  long total = 0;
  int i = n;
  KEEP(i);
  {
    int i = n * 2;
    long inner = i + total;
    KEEP(inner);
    total += inner;
    {
      char c = 'x';
      KEEP(c);
      total += c; /* STOP scopes inner */
    }
  }
  for (int k = 0; k < n; k++) {
    KEEP(k);
    total += k;
  }
  static int calls;
  calls++;
  return total + i + calls; /* STOP scopes end */
}

/* Parameters and locals of many types. */
NOINLINE int use_types(struct point *p, const char *s, union number u, enum color c, double d, float f, unsigned char uc,
                       short sh, struct point byval) {
  int arr[4] = { 1, 2, 3, 4 };
  int m[2][3] = { { 1, 2, 3 }, { 4, 5, 6 } };
  struct flags fl = g_flags;
  struct node local_node = { 5, g_head, "local" };
  point_t *pp = p;
  const char *cs = s;
  char buf[8] = "abc";
  unsigned long long big = 0x0102030405060708ull;
  double dd = d * 2;
  float ff = f + 1;
  _Bool flag = uc > 3;
  enum color col = c;
  my_uint mu = 5;
  int (*fn)(int, int) = add;
  KEEP(arr);
  KEEP(m);
  KEEP(&fl);
  KEEP(&local_node);
  KEEP(buf);
  KEEP(dd);
  KEEP(ff);
  KEEP(flag);
  KEEP(mu);
  KEEP(fn);
  KEEP(big);
  KEEP(col);
  KEEP(cs);
  KEEP(pp);
  return arr[1] + m[1][2] + pp->x + cs[0] + u.i + c + (int)dd + (int)ff + uc + sh + byval.y + fl.c; /* STOP use_types */
}

/* Inlined into its callers, even at -O0. */
static inline __attribute__((always_inline)) int square(int x) {
  int y = x * x;
  KEEP(y);
  return y;
}

static inline int cube(int x) {
  int sq = square(x);
  int r = sq * x;
  KEEP(r);
  return r;
}

NOINLINE int inline_user(int v) {
  int first = square(v);
  int second = cube(v + 1);
  KEEP(first);
  return first + second; /* STOP inline_user */
}

/* At -O2: `unused` is optimized out, `sum` and `i` have location lists, `n` an entry value. */
NOINLINE int looper(const int *arr, int n) {
  int unused = n * 3;
  int sum = 0;
  for (int i = 0; i < n; i++) {
    sum += arr[i] * i;
    KEEP(sum);
  }
  int constant = 42;
  KEEP(constant);
  return sum; /* STOP looper */
}

/* At -O2, scalar replacement leaves `p` in two registers (DW_OP_piece). */
NOINLINE int pieces(int a, int b) {
  struct point p = { a, b };
  int x = other_function(p.x);
  KEEP(x);
  return x + p.y + p.x; /* STOP pieces */
}

/* Float and double parameters in SSE registers at -O2 (on x86-64). */
NOINLINE double floats(double a, float b, int k) {
  double r = a * k;
  float q = b / 2;
  KEEP(r);
  KEEP(q);
  return r + q; /* STOP floats */
}

NOINLINE int recurse(int depth, struct node *n) {
  int here = depth * 10;
  KEEP(here);
  if (depth > 0) return recurse(depth - 1, n ? n->next : 0) + here;
  return here + s_counter; /* STOP recurse */
}

int main(void) {
  struct point pt = { 10, 20 };
  int data[5] = { 1, 2, 3, 4, 5 };
  int total = 0;
  total += add(2, 3);
  total += (int)scopes(4);
  total += use_types(&pt, g_str, g_num, BLUE, 2.5, 0.25f, 9, -3, pt);
  total += inline_user(3);
  total += looper(data, 5);
  total += pieces(7, 8);
  total += (int)floats(1.25, 3.0f, 2);
  total += recurse(2, g_head);
  total += other_function(g_int) + asm_var + other_global + other_points[0].x + s_table[g_int & 3];
  g_vptr = &total;
  s_counter = total;
  return total; /* STOP main */
}
