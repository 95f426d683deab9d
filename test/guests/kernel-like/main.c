/* A stand-in for a kernel's C (kernel-like.test.ts), built as Debian builds its vmlinux: gcc -O2
   -mcmodel=kernel -mno-red-zone -fno-pic, no frame pointers and no .eh_frame (call frames from
   .debug_frame alone), DWARF 5, linked in the kernel map (vmlinux.ld). A list of tasks is built
   as the kernel's list_head lists are, summed, and reported: 60 on COM1, and 60 through
   isa-debug-exit. */
struct list_head {
  struct list_head *next, *prev;
};

struct task_struct {
  int pid;
  long state;
  char comm[16];
  struct list_head tasks;
};

struct task_struct tasks[3];
unsigned long jiffies;

static inline void outb(unsigned short port, unsigned char v)
{
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static void list_add(struct list_head *new, struct list_head *head)
{
  struct list_head *next = head->next;

  next->prev = new;
  new->next = next;
  new->prev = head; /* MARK:inlined */
  head->next = new;
}

static __attribute__((noinline)) void init_task(struct task_struct *t, int pid, const char *name)
{
  t->pid = pid; /* MARK:init_task */
  t->state = 0;
  for (int i = 0; i < 15 && name[i]; i++)
    t->comm[i] = name[i];
}

/* init_task's caller, inlined into start_kernel's loop: a caller's inlined call is a frame of its own. */
static inline __attribute__((always_inline)) void spawn(struct task_struct *t, int pid, const char *name)
{
  init_task(t, pid, name); /* MARK:spawn_call */
}

__attribute__((noinline)) long sum_pids(struct list_head *head)
{
  long sum = 0;

  for (struct list_head *p = head->next; p != head; p = p->next) {
    struct task_struct *t = (struct task_struct *)((char *)p - __builtin_offsetof(struct task_struct, tasks));

    sum += t->pid * 10; /* MARK:sum */
  }
  return sum;
}

__attribute__((noinline)) void report(long total)
{
  char digits[20];
  int n = 0;

  do
    digits[n++] = '0' + total % 10; /* MARK:report */
  while ((total /= 10) != 0);
  while (n > 0)
    outb(0x3f8, digits[--n]);
  outb(0x3f8, '\n');
}

void start_kernel(void)
{
  static const char *const names[3] = { "swapper", "init", "kthreadd" };
  struct list_head head = { &head, &head };
  long total;

  for (int i = 0; i < 3; i++) { /* MARK:loop */
    spawn(&tasks[i], i + 1, names[i]); /* MARK:spawn */
    list_add(&tasks[i].tasks, &head); /* MARK:list_add */
  }
  total = sum_pids(&head); /* MARK:total */
  jiffies = total;
  report(total); /* MARK:report_call */
  outb(0xf4, (unsigned char)total); /* MARK:exit */
}
