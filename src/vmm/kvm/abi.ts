// Every KVM ioctl number, constant and struct layout that kvmdbg uses, declared once.
// test/abi.test.ts compiles a C program against <linux/kvm.h> and checks every size, offset and
// request number below, so a typo here fails a test instead of corrupting a guest.
// Layouts are plain offset tables: structs are read and written through DataViews over Buffers
// (or over the mmapped kvm_run page), which keeps the hot path free of marshalling.

const KVMIO = 0xae;
const IOC_NONE = 0, IOC_WRITE = 1, IOC_READ = 2;
function ioc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}
const io = (nr: number) => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, size: number) => ioc(IOC_READ, nr, size);
const iow = (nr: number, size: number) => ioc(IOC_WRITE, nr, size);
const iowr = (nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, nr, size);

export const KVM_API_VERSION = 12;

/** struct kvm_regs: 18 u64 in this order. */
export const kvm_regs = {
  size: 144,
  rax: 0, rbx: 8, rcx: 16, rdx: 24, rsi: 32, rdi: 40, rsp: 48, rbp: 56,
  r8: 64, r9: 72, r10: 80, r11: 88, r12: 96, r13: 104, r14: 112, r15: 120,
  rip: 128, rflags: 136,
} as const;

/** struct kvm_segment */
export const kvm_segment = {
  size: 24,
  base: 0, limit: 8, selector: 12, type: 14, present: 15, dpl: 16, db: 17, s: 18, l: 19, g: 20,
  avl: 21, unusable: 22,
} as const;

/** struct kvm_dtable */
export const kvm_dtable = { size: 16, base: 0, limit: 8 } as const;

/** struct kvm_sregs */
export const kvm_sregs = {
  size: 312,
  cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120, tr: 144, ldt: 168,
  gdt: 192, idt: 208,
  cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apic_base: 272,
  interrupt_bitmap: 280,
} as const;

/** struct kvm_xsave (the fixed 4 KiB part; legacy area as in FXSAVE, then the XSAVE header). */
export const kvm_xsave = { size: 4096 } as const;

/** struct kvm_lapic_state: the local APIC's register page (KVM_APIC_REG_SIZE bytes). */
export const kvm_lapic_state = { size: 1024 } as const;

/** struct kvm_debugregs */
export const kvm_debugregs = { size: 128, db: 0, dr6: 32, dr7: 40, flags: 48 } as const;

/** struct kvm_guest_debug (x86: arch.debugreg[8]) */
export const kvm_guest_debug = { size: 72, control: 0, debugreg: 8 } as const;
export const KVM_GUESTDBG_ENABLE = 0x1;
export const KVM_GUESTDBG_SINGLESTEP = 0x2;
export const KVM_GUESTDBG_USE_SW_BP = 0x10000;
export const KVM_GUESTDBG_USE_HW_BP = 0x20000;
export const KVM_GUESTDBG_INJECT_DB = 0x40000;
export const KVM_GUESTDBG_INJECT_BP = 0x80000;
/** No interrupt (NMI, SMI included) is injected while set: a single step stays in its own code. */
export const KVM_GUESTDBG_BLOCKIRQ = 0x100000;

/** struct kvm_userspace_memory_region */
export const kvm_userspace_memory_region = {
  size: 32, slot: 0, flags: 4, guest_phys_addr: 8, memory_size: 16, userspace_addr: 24,
} as const;
export const KVM_MEM_LOG_DIRTY_PAGES = 0x1;
export const KVM_MEM_READONLY = 0x2;
/** struct kvm_dirty_log (KVM_GET_DIRTY_LOG): a slot and where its bitmap goes, one bit a page. */
export const kvm_dirty_log = { size: 16, slot: 0, dirty_bitmap: 8 } as const;

/** struct kvm_msrs header and struct kvm_msr_entry */
export const kvm_msrs = { size: 8, nmsrs: 0, entries: 8 } as const;
export const kvm_msr_entry = { size: 16, index: 0, data: 8 } as const;
/** struct kvm_msr_list header (nmsrs, then u32 indices) */
export const kvm_msr_list = { size: 4, nmsrs: 0, indices: 4 } as const;

/** struct kvm_cpuid2 header and struct kvm_cpuid_entry2 */
export const kvm_cpuid2 = { size: 8, nent: 0, entries: 8 } as const;
export const kvm_cpuid_entry2 = {
  size: 40, function: 0, index: 4, flags: 8, eax: 12, ebx: 16, ecx: 20, edx: 24,
} as const;

/** struct kvm_vcpu_events */
export const kvm_vcpu_events = {
  size: 64,
  exception_injected: 0, exception_nr: 1, exception_has_error_code: 2, exception_pending: 3,
  exception_error_code: 4,
  interrupt_injected: 8, interrupt_nr: 9, interrupt_soft: 10, interrupt_shadow: 11,
  nmi_injected: 12, nmi_pending: 13, nmi_masked: 14,
  sipi_vector: 16, flags: 20,
  exception_has_payload: 55, exception_payload: 56,
} as const;
export const KVM_VCPUEVENT_VALID_NMI_PENDING = 0x1;
export const KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x2;
export const KVM_VCPUEVENT_VALID_SHADOW = 0x4;

/** struct kvm_mp_state */
export const kvm_mp_state = { size: 4 } as const;
export const KVM_MP_STATE_RUNNABLE = 0;
export const KVM_MP_STATE_UNINITIALIZED = 1;
export const KVM_MP_STATE_INIT_RECEIVED = 2;
export const KVM_MP_STATE_HALTED = 3;
export const KVM_MP_STATE_SIPI_RECEIVED = 4;

/** struct kvm_irq_level */
export const kvm_irq_level = { size: 8, irq: 0, level: 4 } as const;
/** struct kvm_pit_config */
export const kvm_pit_config = { size: 64, flags: 0 } as const;
/** struct kvm_irqchip (KVM_GET/SET_IRQCHIP): chip_id, then the chip's state (a kvm_pic_state for the PICs). */
export const kvm_irqchip = { size: 520, chip_id: 0, chip: 8 } as const;
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
/** struct kvm_pic_state: one 8259A. */
export const kvm_pic_state = {
  size: 16, last_irr: 0, irr: 1, imr: 2, isr: 3, priority_add: 4, irq_base: 5, read_reg_select: 6, poll: 7,
  special_mask: 8, init_state: 9, auto_eoi: 10, rotate_on_auto_eoi: 11, special_fully_nested_mode: 12, init4: 13,
  elcr: 14, elcr_mask: 15,
} as const;
/** struct kvm_pit_channel_state: one 8254 channel. */
export const kvm_pit_channel_state = {
  size: 24, count: 0, latched_count: 4, count_latched: 6, status_latched: 7, status: 8, read_state: 9,
  write_state: 10, write_latch: 11, rw_mode: 12, mode: 13, bcd: 14, gate: 15, count_load_time: 16,
} as const;
/** struct kvm_pit_state2 (KVM_GET/SET_PIT2): three channels, then flags. */
export const kvm_pit_state2 = { size: 112, channels: 0, flags: 72 } as const;

/** struct kvm_run: the shared page of a vCPU, read in place over its mapping. */
export const kvm_run = {
  size: 2352,
  request_interrupt_window: 0, immediate_exit: 1, exit_reason: 8,
  ready_for_interrupt_injection: 12, if_flag: 13, flags: 14, cr8: 16, apic_base: 24,
  // exit unions, all starting at offset 32
  io_direction: 32, io_size: 33, io_port: 34, io_count: 36, io_data_offset: 40,
  mmio_phys_addr: 32, mmio_data: 40, mmio_len: 48, mmio_is_write: 52,
  debug_exception: 32, debug_pc: 40, debug_dr6: 48, debug_dr7: 56,
  internal_suberror: 32, internal_ndata: 36, internal_data: 40,
  msr_error: 32, msr_reason: 40, msr_index: 44, msr_data: 48,
  fail_entry_reason: 32, fail_entry_cpu: 40,
  system_event_type: 32, system_event_ndata: 36, system_event_data: 40,
  // KVM_CAP_SYNC_REGS: which register sets KVM copies into the page at every exit (s.regs)
  kvm_valid_regs: 288, kvm_dirty_regs: 296, sync_regs: 304, sync_sregs: 448, sync_events: 760,
} as const;
/** kvm_valid_regs / kvm_dirty_regs bits. */
export const KVM_SYNC_X86 = { REGS: 1, SREGS: 2, EVENTS: 4 } as const;
export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

export const KVM_EXIT = {
  UNKNOWN: 0, EXCEPTION: 1, IO: 2, HYPERCALL: 3, DEBUG: 4, HLT: 5, MMIO: 6, IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8, FAIL_ENTRY: 9, INTR: 10, SET_TPR: 11, TPR_ACCESS: 12, NMI: 16, INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24, X86_RDMSR: 29, X86_WRMSR: 30,
} as const;
export const KVM_INTERNAL_ERROR = {
  EMULATION: 1, SIMUL_EX: 2, DELIVERY_EV: 3, UNEXPECTED_EXIT_REASON: 4,
} as const;
export const KVM_SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const;

/** Capabilities that kvmdbg checks with KVM_CHECK_EXTENSION. */
export const KVM_CAP = {
  IRQCHIP: 0, HLT: 1, USER_MEMORY: 3, SET_TSS_ADDR: 4, EXT_CPUID: 7, NR_VCPUS: 9, MP_STATE: 14,
  SYNC_MMU: 16, SET_GUEST_DEBUG: 23, VCPU_EVENTS: 41, DEBUGREGS: 50, XSAVE: 55, XCRS: 56,
  MAX_VCPUS: 66, SYNC_REGS: 74, READONLY_MEM: 81, IMMEDIATE_EXIT: 136, X86_USER_SPACE_MSR: 188,
  X86_MSR_FILTER: 189, SET_GUEST_DEBUG2: 195,
} as const;

/** struct kvm_enable_cap (KVM_ENABLE_CAP): a capability and its four arguments. */
export const kvm_enable_cap = { size: 104, cap: 0, flags: 4, args: 8 } as const;
/**
 * struct kvm_msr_filter (KVM_X86_SET_MSR_FILTER): a default, then up to 16 ranges of MSRs, each
 * with a bitmap whose clear bits deny the access (and, with KVM_MSR_EXIT_REASON_FILTER, send it
 * to the monitor as KVM_EXIT_X86_RDMSR/WRMSR).
 */
export const kvm_msr_filter = { size: 392, flags: 0, ranges: 8 } as const;
export const kvm_msr_filter_range = { size: 24, flags: 0, nmsrs: 4, base: 8, bitmap: 16 } as const;
export const KVM_MSR_FILTER_MAX_RANGES = 16;
export const KVM_MSR_FILTER_WRITE = 2;
export const KVM_MSR_FILTER_DEFAULT_ALLOW = 0;
/** KVM_CAP_X86_USER_SPACE_MSR's argument: the accesses a filter denies exit to the monitor. */
export const KVM_MSR_EXIT_REASON_FILTER = 4;

export const KVM_GET_API_VERSION = io(0x00);
export const KVM_CREATE_VM = io(0x01);
export const KVM_GET_MSR_INDEX_LIST = iowr(0x02, kvm_msr_list.size);
export const KVM_CHECK_EXTENSION = io(0x03);
export const KVM_GET_VCPU_MMAP_SIZE = io(0x04);
export const KVM_GET_SUPPORTED_CPUID = iowr(0x05, kvm_cpuid2.size);
export const KVM_CREATE_VCPU = io(0x41);
export const KVM_SET_USER_MEMORY_REGION = iow(0x46, kvm_userspace_memory_region.size);
export const KVM_GET_DIRTY_LOG = iow(0x42, kvm_dirty_log.size);
export const KVM_SET_TSS_ADDR = io(0x47);
export const KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
export const KVM_CREATE_IRQCHIP = io(0x60);
export const KVM_IRQ_LINE = iow(0x61, kvm_irq_level.size);
export const KVM_CREATE_PIT2 = iow(0x77, kvm_pit_config.size);
export const KVM_GET_IRQCHIP = iowr(0x62, kvm_irqchip.size);
export const KVM_SET_IRQCHIP = ior(0x63, kvm_irqchip.size);
export const KVM_GET_PIT2 = ior(0x9f, kvm_pit_state2.size);
export const KVM_SET_PIT2 = iow(0xa0, kvm_pit_state2.size);
export const KVM_RUN = io(0x80);
export const KVM_GET_REGS = ior(0x81, kvm_regs.size);
export const KVM_SET_REGS = iow(0x82, kvm_regs.size);
export const KVM_GET_SREGS = ior(0x83, kvm_sregs.size);
export const KVM_SET_SREGS = iow(0x84, kvm_sregs.size);
export const KVM_GET_MSRS = iowr(0x88, kvm_msrs.size);
export const KVM_SET_MSRS = iow(0x89, kvm_msrs.size);
export const KVM_SET_CPUID2 = iow(0x90, kvm_cpuid2.size);
export const KVM_GET_MP_STATE = ior(0x98, kvm_mp_state.size);
export const KVM_SET_MP_STATE = iow(0x99, kvm_mp_state.size);
export const KVM_SET_GUEST_DEBUG = iow(0x9b, kvm_guest_debug.size);
export const KVM_GET_VCPU_EVENTS = ior(0x9f, kvm_vcpu_events.size);
export const KVM_SET_VCPU_EVENTS = iow(0xa0, kvm_vcpu_events.size);
export const KVM_GET_DEBUGREGS = ior(0xa1, kvm_debugregs.size);
export const KVM_SET_DEBUGREGS = iow(0xa2, kvm_debugregs.size);
export const KVM_GET_LAPIC = ior(0x8e, kvm_lapic_state.size);
export const KVM_GET_XSAVE = ior(0xa4, kvm_xsave.size);
export const KVM_SET_XSAVE = iow(0xa5, kvm_xsave.size);
export const KVM_ENABLE_CAP = iow(0xa3, kvm_enable_cap.size);
export const KVM_X86_SET_MSR_FILTER = iow(0xc6, kvm_msr_filter.size);

/** Every layout above by its C name, for the ABI test. */
export const LAYOUTS = {
  kvm_regs, kvm_segment, kvm_dtable, kvm_sregs, kvm_xsave, kvm_lapic_state, kvm_debugregs, kvm_guest_debug,
  kvm_userspace_memory_region, kvm_dirty_log, kvm_msrs, kvm_msr_entry, kvm_msr_list, kvm_cpuid2, kvm_cpuid_entry2,
  kvm_vcpu_events, kvm_mp_state, kvm_irq_level, kvm_pit_config, kvm_irqchip, kvm_pic_state,
  kvm_pit_channel_state, kvm_pit_state2, kvm_run, kvm_enable_cap, kvm_msr_filter, kvm_msr_filter_range,
} as const;

/** Every request number above by its C macro name, for the ABI test. */
export const IOCTLS = {
  KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_GET_MSR_INDEX_LIST, KVM_CHECK_EXTENSION,
  KVM_GET_VCPU_MMAP_SIZE, KVM_GET_SUPPORTED_CPUID, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION,
  KVM_GET_DIRTY_LOG, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_IRQCHIP, KVM_IRQ_LINE, KVM_CREATE_PIT2,
  KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, KVM_GET_PIT2, KVM_SET_PIT2,
  KVM_RUN, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_GET_MSRS, KVM_SET_MSRS,
  KVM_SET_CPUID2, KVM_GET_MP_STATE, KVM_SET_MP_STATE,
  KVM_SET_GUEST_DEBUG, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_DEBUGREGS,
  KVM_SET_DEBUGREGS, KVM_GET_LAPIC, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_ENABLE_CAP, KVM_X86_SET_MSR_FILTER,
} as const;
