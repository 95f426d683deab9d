/* The C reference for bench/run.ts: the same KVM calls the monitor makes, with nothing around
 * them. Each metric gets a fresh VM set up exactly as kvmdbg's Machine sets one up (vm.ts,
 * arch/cpuid.ts, arch/entry-state.ts): 64 MiB in one slot, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR,
 * KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2, CPUID from KVM_GET_SUPPORTED_CPUID, the monitor's GDT at
 * 0x500, identity page tables at 0x1000 (2 MiB pages over the low 4 GiB), long mode at the load
 * address 0x100000. The KVM_SET_GUEST_DEBUG control words are the monitor's too (it always sets
 * USE_SW_BP, and USE_HW_BP while a hardware breakpoint exists), and so is kvm_valid_regs
 * (KVM_SYNC_X86_REGS where the host has KVM_CAP_SYNC_REGS: registers come with every exit).
 *
 * usage: ref SPIN.bin IO.bin BP_ADDR IO_COUNT DURATION_MS WARMUP_MS [METRIC...]
 *   METRIC: step, stepRegs, io, bp (default: all four, in that order); also stepGetRegs: stepRegs
 *   with KVM_GET_REGS per step instead of the registers KVM syncs into kvm_run (for comparison)
 * prints one JSON object: {"step": steps/s, "stepRegs": steps/s, "ioUs": us per exit,
 *   "bpHits": hits/s, "bpResumeFlag": 1 where breakpoints were continued with RFLAGS.RF, ...counts}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (64u << 20)
#define LOAD_ADDR 0x100000u
#define KVM_TSS_ADDR 0xfffbd000u
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define GDT_ADDR 0x500u
#define PML4_ADDR 0x1000u
#define PDPT_ADDR 0x2000u
#define PD_ADDR 0x3000u
#define BOOT_STACK_TOP 0x7c00u

#define DBG_BASE (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP)

static void die(const char *what) {
  fprintf(stderr, "ref: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *b = malloc(n);
  if (fread(b, 1, n, f) != (size_t)n) die(path);
  fclose(f);
  *len = n;
  return b;
}

struct vm {
  int kvm, fd, cpu;
  uint8_t *mem;
  struct kvm_run *run;
  size_t run_size;
};

static void xioctl(int fd, unsigned long req, void *arg, const char *what) {
  if (ioctl(fd, req, arg) < 0) die(what);
}

/* The monitor's GDT (arch/gdt.ts): null, code64, code32, data, code16, data16. */
static uint64_t descriptor(uint32_t base, uint32_t limit, uint64_t access, uint64_t flags) {
  return (limit & 0xffffull) | ((uint64_t)(base & 0xffffff) << 16) | (access << 40) |
         ((uint64_t)((limit >> 16) & 0xf) << 48) | (flags << 52) | ((uint64_t)(base >> 24) << 56);
}

static struct kvm_segment seg(uint16_t selector, uint8_t type, int l, int db) {
  struct kvm_segment s = {0};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = db;
  s.s = 1;
  s.l = l;
  s.g = 1;
  return s;
}

static void vm_create(struct vm *v, const void *image, size_t len) {
  v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (v->kvm < 0) die("/dev/kvm");
  v->fd = ioctl(v->kvm, KVM_CREATE_VM, 0);
  if (v->fd < 0) die("KVM_CREATE_VM");
  if (ioctl(v->fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0) die("KVM_SET_TSS_ADDR");
  uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
  xioctl(v->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap, "KVM_SET_IDENTITY_MAP_ADDR");
  if (ioctl(v->fd, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
  struct kvm_pit_config pit = {0};
  xioctl(v->fd, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");

  v->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (v->mem == MAP_FAILED) die("mmap guest memory");
  struct kvm_userspace_memory_region region = {
    .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)v->mem,
  };
  xioctl(v->fd, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

  /* KVM_GET_SUPPORTED_CPUID, grown until it fits, as arch/cpuid.ts does. */
  struct kvm_cpuid2 *cpuid = NULL;
  for (int n = 64;; n *= 2) {
    cpuid = realloc(cpuid, sizeof *cpuid + n * sizeof(struct kvm_cpuid_entry2));
    memset(cpuid, 0, sizeof *cpuid + n * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = n;
    if (ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) break;
    if (errno != E2BIG || n > 4096) die("KVM_GET_SUPPORTED_CPUID");
  }
  v->cpu = ioctl(v->fd, KVM_CREATE_VCPU, 0);
  if (v->cpu < 0) die("KVM_CREATE_VCPU");
  int mmap_size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size < 0) die("KVM_GET_VCPU_MMAP_SIZE");
  v->run_size = mmap_size;
  v->run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->cpu, 0);
  if (v->run == MAP_FAILED) die("mmap kvm_run");
  /* As the monitor (vcpu.ts): the general registers come with every exit where KVM can. */
  if (ioctl(v->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS) v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
  /* cpuidForVcpu(supported, 0, 1): APIC ID 0, one logical processor, no HTT. */
  for (unsigned i = 0; i < cpuid->nent; i++) {
    struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
    if (e->function == 1) {
      e->ebx = (e->ebx & 0xffff) | (1u << 16);
      e->edx &= ~(1u << 28);
    } else if (e->function == 0xb || e->function == 0x1f) {
      e->edx = 0;
    }
  }
  xioctl(v->cpu, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
  free(cpuid);

  /* The flat image at 0x100000, the GDT, the identity page tables (arch/identity-tables.ts). */
  memcpy(v->mem + LOAD_ADDR, image, len);
  uint64_t gdt[6] = {
    0,
    descriptor(0, 0xfffff, 0x9b, 0xa),
    descriptor(0, 0xfffff, 0x9b, 0xc),
    descriptor(0, 0xfffff, 0x93, 0xc),
    descriptor(0, 0xffff, 0x9b, 0x0),
    descriptor(0, 0xffff, 0x93, 0x0),
  };
  memcpy(v->mem + GDT_ADDR, gdt, sizeof gdt);
  uint64_t *pml4 = (uint64_t *)(v->mem + PML4_ADDR);
  uint64_t *pdpt = (uint64_t *)(v->mem + PDPT_ADDR);
  uint64_t *pd = (uint64_t *)(v->mem + PD_ADDR);
  pml4[0] = PDPT_ADDR | 3;
  for (int i = 0; i < 4; i++) pdpt[i] = (PD_ADDR + i * 4096) | 3;
  for (uint64_t i = 0; i < 4 * 512; i++) pd[i] = (i << 21) | 0x83;

  /* Special registers: read, change the fields enterState() changes, write back. */
  struct kvm_sregs sregs;
  xioctl(v->cpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
  struct kvm_segment data = seg(0x18, 3, 0, 1);
  sregs.cs = seg(0x08, 0xb, 1, 0);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.gdt.base = GDT_ADDR;
  sregs.gdt.limit = sizeof gdt - 1;
  sregs.idt.base = 0;
  sregs.idt.limit = 0;
  sregs.cr0 = 0x1 | 0x2 | 0x10 | 0x20 | 0x10000 | 0x80000000ull; /* PE MP ET NE WP PG */
  sregs.cr3 = PML4_ADDR;
  sregs.cr4 = 0x20 | 0x200 | 0x400; /* PAE OSFXSR OSXMMEXCPT */
  sregs.efer = 0x100 | 0x400;       /* LME LMA */
  xioctl(v->cpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

  struct kvm_regs regs;
  xioctl(v->cpu, KVM_GET_REGS, &regs, "KVM_GET_REGS");
  regs.rsp = BOOT_STACK_TOP;
  regs.rflags = 2;
  regs.rip = LOAD_ADDR;
  xioctl(v->cpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

static void vm_destroy(struct vm *v) {
  munmap(v->run, v->run_size);
  close(v->cpu);
  close(v->fd);
  munmap(v->mem, MEM_SIZE);
  close(v->kvm);
}

static void set_debug(struct vm *v, uint32_t control, uint64_t dr0, uint64_t dr7) {
  struct kvm_guest_debug d;
  memset(&d, 0, sizeof d);
  d.control = control;
  d.arch.debugreg[0] = dr0;
  d.arch.debugreg[7] = dr7;
  if (ioctl(v->cpu, KVM_SET_GUEST_DEBUG, &d) < 0) die("KVM_SET_GUEST_DEBUG");
}

static void enter(struct vm *v) {
  if (ioctl(v->cpu, KVM_RUN, 0) < 0) die("KVM_RUN");
}

static void expect_exit(struct vm *v, uint32_t reason, const char *what) {
  if (v->run->exit_reason != reason) {
    fprintf(stderr, "ref: %s: exit reason %u, expected %u\n", what, v->run->exit_reason, reason);
    exit(1);
  }
}

/* (a), (b): KVM_SET_GUEST_DEBUG once, then KVM_RUN per step, and RIP read after each step: with
   REGS_SYNC from the registers KVM syncs into kvm_run (where Vcpu.loadRegs reads them), with
   REGS_IOCTL through KVM_GET_REGS. */
enum { REGS_NONE, REGS_SYNC, REGS_IOCTL };
static double bench_step(const void *img, size_t len, int with_regs, double dur, double warm, long *count) {
  struct vm v;
  vm_create(&v, img, len);
  set_debug(&v, DBG_BASE | KVM_GUESTDBG_SINGLESTEP, 0, 0);
  if (with_regs == REGS_SYNC && !(v.run->kvm_valid_regs & KVM_SYNC_X86_REGS)) die("no KVM_CAP_SYNC_REGS");
  struct kvm_regs regs;
  uint64_t rip = LOAD_ADDR;
  double t0 = now(), start = 0, end = 0;
  long n = 0;
  int measuring = 0;
  for (;;) {
    for (int i = 0; i < 256; i++) {
      enter(&v);
      if (v.run->exit_reason != KVM_EXIT_DEBUG) expect_exit(&v, KVM_EXIT_DEBUG, "single-step");
      if (with_regs == REGS_SYNC) {
        rip = ((volatile struct kvm_regs *)&v.run->s.regs.regs)->rip;
      } else if (with_regs == REGS_IOCTL) {
        if (ioctl(v.cpu, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
        rip = regs.rip;
      }
    }
    double t = now();
    if (!measuring) {
      if (t - t0 >= warm) { measuring = 1; start = t; }
      continue;
    }
    n += 256;
    if (t - start >= dur) { end = t; break; }
  }
  vm_destroy(&v);
  if (rip < LOAD_ADDR || rip >= LOAD_ADDR + len) {
    fprintf(stderr, "ref: RIP %#llx after a step is outside the guest\n", (unsigned long long)rip);
    exit(1);
  }
  *count = n;
  return n / (end - start);
}

/* (c): the guest's IO_COUNT outs to port 0x80, then the 0xF4 exit; microseconds per exit. */
static double bench_io(const void *img, size_t len, long io_count, long *exits) {
  struct vm v;
  vm_create(&v, img, len);
  long n = 0;
  double t0 = now();
  for (;;) {
    enter(&v);
    if (v.run->exit_reason != KVM_EXIT_IO) expect_exit(&v, KVM_EXIT_IO, "port I/O");
    /* Minimal handling: an OUT to a port with no device is dropped. */
    if (v.run->io.port == 0xf4) break;
    n++;
  }
  double t1 = now();
  vm_destroy(&v);
  if (n != io_count) {
    fprintf(stderr, "ref: %ld I/O exits, expected %ld\n", n, io_count);
    exit(1);
  }
  *exits = n;
  return (t1 - t0) * 1e6 / n;
}

/* (d): DR0 execute breakpoint, continued from each hit the way the monitor continues: with
   RFLAGS.RF set in the registers KVM syncs (kvm_dirty_regs), then KVM_RUN, where the host
   honours RF (the first continue tells: RBX, counted once a pass, must have moved by one), else
   disarm + single-step, KVM_RUN, re-arm, KVM_RUN to the next hit. *rf says which. */
static void set_resume_flag(struct vm *v) {
  v->run->s.regs.regs.rflags |= 0x10000; /* X86_EFLAGS_RF */
  v->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
}

static void expect_hit(struct vm *v, uint64_t bp) {
  if (v->run->exit_reason != KVM_EXIT_DEBUG || !(v->run->debug.arch.dr6 & 1) || v->run->debug.arch.pc != bp) {
    fprintf(stderr, "ref: expected a DR0 hit at %#llx: exit %u dr6 %#llx pc %#llx\n", (unsigned long long)bp,
            v->run->exit_reason, (unsigned long long)v->run->debug.arch.dr6, (unsigned long long)v->run->debug.arch.pc);
    exit(1);
  }
}

static double bench_bp(const void *img, size_t len, uint64_t bp, double dur, double warm, long *count, int *rf) {
  struct vm v;
  vm_create(&v, img, len);
  if (!(v.run->kvm_valid_regs & KVM_SYNC_X86_REGS)) die("no KVM_CAP_SYNC_REGS");
  const uint32_t hw = DBG_BASE | KVM_GUESTDBG_USE_HW_BP;
  const uint64_t dr7 = 1 | (1 << 8); /* L0, LE; R/W0 = LEN0 = 0: execute, 1 byte */
  set_debug(&v, hw, bp, dr7);
  enter(&v);
  expect_exit(&v, KVM_EXIT_DEBUG, "first breakpoint hit");
  uint64_t rbx = v.run->s.regs.regs.rbx;
  set_resume_flag(&v);
  enter(&v);
  expect_hit(&v, bp);
  *rf = v.run->s.regs.regs.rbx == rbx + 1;
  double t0 = now(), start = 0, end = 0;
  long n = 0;
  int measuring = 0;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (*rf) {
        set_resume_flag(&v);
      } else {
        set_debug(&v, hw | KVM_GUESTDBG_SINGLESTEP, 0, 0);
        enter(&v);
        if (v.run->exit_reason != KVM_EXIT_DEBUG) expect_exit(&v, KVM_EXIT_DEBUG, "step over breakpoint");
        set_debug(&v, hw, bp, dr7);
      }
      enter(&v);
      expect_hit(&v, bp);
    }
    double t = now();
    if (!measuring) {
      if (t - t0 >= warm) { measuring = 1; start = t; }
      continue;
    }
    n += 64;
    if (t - start >= dur) { end = t; break; }
  }
  vm_destroy(&v);
  *count = n;
  return n / (end - start);
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s SPIN.bin IO.bin BP_ADDR IO_COUNT DURATION_MS WARMUP_MS [step|stepRegs|io|bp|stepGetRegs]...\n", argv[0]);
    return 2;
  }
  size_t spin_len, io_len;
  void *spin = read_file(argv[1], &spin_len);
  void *io = read_file(argv[2], &io_len);
  uint64_t bp = strtoull(argv[3], NULL, 0);
  long io_count = strtol(argv[4], NULL, 0);
  double dur = atof(argv[5]) / 1000, warm = atof(argv[6]) / 1000;
  const char *all[] = {"step", "stepRegs", "io", "bp"};
  const char **metrics = argc > 7 ? (const char **)argv + 7 : all;
  int nmetrics = argc > 7 ? argc - 7 : 4;

  printf("{");
  for (int i = 0; i < nmetrics; i++) {
    const char *m = metrics[i];
    long n;
    if (i) printf(", ");
    if (!strcmp(m, "step")) {
      double r = bench_step(spin, spin_len, REGS_NONE, dur, warm, &n);
      printf("\"step\": %.1f, \"stepCount\": %ld", r, n);
    } else if (!strcmp(m, "stepRegs")) {
      double r = bench_step(spin, spin_len, REGS_SYNC, dur, warm, &n);
      printf("\"stepRegs\": %.1f, \"stepRegsCount\": %ld", r, n);
    } else if (!strcmp(m, "io")) {
      double r = bench_io(io, io_len, io_count, &n);
      printf("\"ioUs\": %.4f, \"ioCount\": %ld", r, n);
    } else if (!strcmp(m, "bp")) {
      int rf;
      double r = bench_bp(spin, spin_len, bp, dur, warm, &n, &rf);
      printf("\"bpHits\": %.1f, \"bpCount\": %ld, \"bpResumeFlag\": %d", r, n, rf);
    } else if (!strcmp(m, "stepGetRegs")) {
      double r = bench_step(spin, spin_len, REGS_IOCTL, dur, warm, &n);
      printf("\"stepGetRegs\": %.1f, \"stepGetRegsCount\": %ld", r, n);
    } else {
      fprintf(stderr, "ref: unknown metric %s\n", m);
      return 2;
    }
    fflush(stdout);
  }
  printf("}\n");
  return 0;
}
