/* Types for the BTF reader's test (test/btf.test.ts): built with gcc -g -gbtf, so that one
 * executable carries the same types as DWARF and as BTF; run, it prints the layout the compiler
 * chose (offsetof, sizeof) for the test to compare with what each reader says. */
#include <stddef.h>
#include <stdio.h>

typedef unsigned long long u64;
typedef unsigned short u16;
typedef unsigned char u8;
typedef struct { long counter; } atomic_long_t;

/* RED's sign: gcc 12 sets no signed flag on BTF enums, so BTF reads it as 0xffffffff. */
enum colour { RED = -1, GREEN = 7, BLUE = 0x7fffffff };

struct list_head { struct list_head *next, *prev; };

struct flags {
	u8 facility;
	u8 f5 : 5;
	u8 l3 : 3;
	unsigned int wide : 20;
	unsigned int rest : 12;
	signed char s : 2;
	enum colour c;
};

struct packed_bits {
	unsigned char a : 7;
	unsigned int b : 30;
} __attribute__((packed));

struct task {
	volatile long state;
	struct list_head tasks;
	union {
		int pid;
		struct { short lo, hi; };
	};
	const char *name;
	char comm[16];
	u64 matrix[12]; /* one dimension: gcc 12's BTF nests a 2-D array's dimensions the other way round from pahole's (the kernel's) */
	struct task *parent;
	int (*fn)(int, const char *, ...);
	atomic_long_t refs;
	struct flags f;
	struct packed_bits p;
	double d;
	_Bool done;
};

struct task the_task;
struct packed_bits the_bits;
struct flags the_flags;

#define OFF(s, m) printf(#s "." #m " %zu\n", offsetof(struct s, m))
#define SIZE(s) printf(#s " sizeof %zu\n", sizeof(struct s))

int main(void)
{
	SIZE(task); SIZE(flags); SIZE(list_head); SIZE(packed_bits);
	OFF(task, state); OFF(task, tasks); OFF(task, pid); OFF(task, hi); OFF(task, name); OFF(task, comm);
	OFF(task, matrix); OFF(task, parent); OFF(task, fn); OFF(task, refs); OFF(task, f); OFF(task, p);
	OFF(task, d); OFF(task, done); OFF(flags, c); OFF(list_head, prev);
	return 0;
}
