// Where the monitor puts things in guest-physical memory. Every fixed guest address lives here.

/** RAM above this address is moved to HIGH_MEMORY_START, leaving the PC's PCI hole free. */
export const PCI_HOLE_START = 0xc000_0000;
export const HIGH_MEMORY_START = 0x1_0000_0000;
/** Three pages KVM needs for its real-mode TSS on VMX, and one for the identity map; in the hole. */
export const KVM_TSS_ADDR = 0xfffb_d000;
export const KVM_IDENTITY_MAP_ADDR = 0xfffb_c000;

/** The GDT we build for protected- and long-mode entry (guest may reload its own). */
export const GDT_ADDR = 0x0500;
/** Long-mode identity page tables: PML4, PDPT, then four page directories for the low 4 GiB. */
export const PML4_ADDR = 0x1000;
export const PDPT_ADDR = 0x2000;
export const PD_ADDR = 0x3000; // 4 pages, up to 0x6fff
/**
 * Page directories for RAM above 4 GiB (one per GiB, 2 MiB pages) sit at the very top of the
 * RAM below the PCI hole, only for long-mode entry with more than 3 GiB.
 */
export function highPdAddress(lowRamTop: number, count: number): number {
  return lowRamTop - count * 4096;
}
/** Initial stack top for protected/long-mode entries: 3 KiB from 0x7000 up to the boot sector. */
export const BOOT_STACK_TOP = 0x7c00;
/** Where BIOSes put a boot sector. */
export const BOOT_SECTOR_ADDR = 0x7c00;
/** Multiboot information structure and everything it points at (strings, memory map). */
export const BOOT_INFO_ADDR = 0x8000;
export const BOOT_INFO_END = 0x10000;
/** Below this address no loader may place guest code: our structures live there. */
export const RESERVED_LOW_END = 0x7000;
// The BIOS (firmware/) of real-mode entries: IVT 0x0-0x3FF, BDA 0x400-0x4FF, EBDA 0x9FC00-0x9FFFF,
// ROM 0xF0000-0xFFFFF; its stubs trap to the monitor through port 0xE5 (firmware/rom.ts says why).
/** Conventional memory ends here (mem_lower = 640 KiB). */
export const LOW_MEMORY_END = 0xa0000;
/** Legacy video/BIOS area; memory maps report it reserved. */
export const BIOS_AREA_END = 0x100000;
/**
 * A Linux guest's ACPI tables (firmware/acpi.ts), RSDP first: the kernel looks for the RSDP in
 * 0xE0000-0xFFFFF; this half lies below the BIOS ROM (firmware/rom.ts).
 */
export const ACPI_TABLES_ADDR = 0xe0000;
export const ACPI_TABLES_END = 0xf0000;
/** The in-kernel interrupt controllers' registers (KVM's defaults, a PC's). */
export const IOAPIC_ADDR = 0xfec0_0000;
export const LAPIC_ADDR = 0xfee0_0000;

export const GDT_SELECTOR = {
  null: 0x00,
  code64: 0x08,
  code32: 0x10,
  data: 0x18,
  code16: 0x20,
  data16: 0x28,
} as const;

// Linux bzImage (loaders/bzimage.ts), inside the boot information area: the zero page (struct
// boot_params, 4 KiB), then the kernel command line up to BOOT_INFO_END.
export const LINUX_ZERO_PAGE_ADDR = 0x8000;
export const LINUX_CMDLINE_ADDR = 0x9000;
