// The ACPI tables a Linux guest reads instead of a BIOS's (ACPI 6.5, chapter 5), laid down by the
// monitor at ACPI_TABLES_ADDR, where the kernel's scan of 0xE0000-0xFFFFF finds the RSDP:
// - RSDP (ACPI 1.0 form) → RSDT → FADT and MADT; FADT → FACS and DSDT.
// - MADT: one local APIC per vCPU (APIC ID = vCPU index, what cpuid.ts gives), the in-kernel
//   IOAPIC (GSI 0-23, KVM's identity routing of ISA IRQs, so no override for IRQ 0), the SCI's IRQ 9
//   as level/active-high (an active-low level line at rest would read as asserted), LINT1 = NMI.
//   With it the kernel finds its CPUs (SMP) and routes interrupts through the IOAPIC.
// - FADT: the PM registers of devices/acpi-pm.ts (PM1a event and control, PM timer), no SMI
//   command port (always in ACPI mode), the reset register at 0xCF9 (devices/reset.ts), a PC with
//   legacy devices and an i8042.
// - DSDT: only \_S5 (the sleep type of soft-off), which Linux needs to offer ACPI power-off: with
//   it, `poweroff` ends the machine (acpi-pm.ts) instead of halting it forever.
// Nothing else: no processor objects, no PCI root, no devices (the kernel probes the legacy ports).
import type { GuestMemory } from '../memory.js';
import { ACPI_TABLES_ADDR, ACPI_TABLES_END, IOAPIC_ADDR, LAPIC_ADDR } from '../layout.js';
import {
  PM1_CNT_LEN, PM1_CNT_PORT, PM1_EVT_LEN, PM1_EVT_PORT, PM_TMR_LEN, PM_TMR_PORT, SLP_TYP_S5,
} from '../devices/acpi-pm.js';
import { RESET_CONTROL_PORT } from '../devices/reset.js';
import { GuestError } from '../../errors.js';

/** The SCI's ISA IRQ (never raised: no ACPI event is). */
export const SCI_IRQ = 9;
const OEM_ID = 'KVMDBG';
const OEM_TABLE_ID = 'KVMDBG  ';
const CREATOR_ID = 'KDBG';

/** The header every system description table starts with. */
const SDT = {
  signature: 0, length: 4, revision: 8, checksum: 9, oemId: 10, oemTableId: 16, oemRevision: 24,
  creatorId: 28, creatorRevision: 32, size: 36,
} as const;
/** The ACPI 1.0 RSDP (revision 0: an RSDT, no XSDT). */
const RSDP = { signature: 0, checksum: 8, oemId: 9, revision: 15, rsdt: 16, size: 20 } as const;
const FACS = { signature: 0, length: 4, version: 32, size: 64, align: 64 } as const;
/** The ACPI 2.0 FADT (revision 3, 244 bytes); the 64-bit X_ blocks stay zero: ACPICA derives them from the 32-bit ones. */
const FADT = {
  revision: 3, firmwareCtrl: 36, dsdt: 40, sciInt: 46, smiCmd: 48, pm1aEvtBlk: 56, pm1aCntBlk: 64,
  pmTmrBlk: 76, pm1EvtLen: 88, pm1CntLen: 89, pmTmrLen: 91, iapcBootArch: 109, flags: 112,
  resetReg: 116, resetValue: 128, size: 244,
} as const;
const FADT_FLAGS = { wbinvd: 1 << 0, pwrButton: 1 << 4, slpButton: 1 << 5, tmrValExt: 1 << 8, resetRegSup: 1 << 10 } as const;
const IAPC_BOOT_ARCH = { legacyDevices: 1 << 0, i8042: 1 << 1 } as const;
/** A Generic Address Structure. */
const GAS = { spaceId: 0, bitWidth: 1, bitOffset: 2, accessSize: 3, address: 4, size: 12 } as const;
const GAS_SYSTEM_IO = 1;
const GAS_ACCESS_BYTE = 1;
/** 0xCF9's value for a hard reset (devices/reset.ts: bit 2 starts it, bit 1 says hard). */
const RESET_VALUE = 0x06;
const MADT = { revision: 3, lapicAddress: 36, flags: 40, entries: 44 } as const;
const MADT_PCAT_COMPAT = 1;
const MADT_LAPIC = { type: 0, size: 8, uid: 2, apicId: 3, flags: 4 } as const;
const MADT_IOAPIC = { type: 1, size: 12, id: 2, address: 4, gsiBase: 8 } as const;
const MADT_OVERRIDE = { type: 2, size: 10, bus: 2, source: 3, gsi: 4, flags: 8 } as const;
const MADT_LAPIC_NMI = { type: 4, size: 6, uid: 2, flags: 3, lint: 5 } as const;
const LAPIC_ENABLED = 1;
/** MPS INTI flags: active high (01), level triggered (11 << 2). */
const INTI_LEVEL_HIGH = 0x000d;
const ALL_PROCESSORS = 0xff;
/** KVM's in-kernel IOAPIC resets with ID 0, as QEMU's MADT also says. */
const IOAPIC_ID = 0;

/**
 * The DSDT's AML: Name (\_S5, Package (4) { SLP_TYP_S5, SLP_TYP_S5, 0, 0 }).
 * NameOp '_S5_' PackageOp PkgLength(8) NumElements(4) BytePrefix n BytePrefix n ZeroOp ZeroOp.
 */
const DSDT_AML = Buffer.from([
  0x08, ...Buffer.from('_S5_'), 0x12, 0x08, 0x04, 0x0a, SLP_TYP_S5, 0x0a, SLP_TYP_S5, 0x00, 0x00,
]);

/** The byte that makes `b` sum to zero (mod 256) once written at `at`. */
function checksum(b: Buffer, at: number): void {
  b[at] = 0;
  let sum = 0;
  for (const x of b) sum += x;
  b[at] = (0x100 - (sum & 0xff)) & 0xff;
}

/** A table with its SDT header filled in; the checksum is set by `seal` once the body is written. */
function table(signature: string, revision: number, bodySize: number): Buffer {
  const b = Buffer.alloc(SDT.size + bodySize);
  b.write(signature, SDT.signature, 'latin1');
  b.writeUInt32LE(b.length, SDT.length);
  b[SDT.revision] = revision;
  b.write(OEM_ID, SDT.oemId, 'latin1');
  b.write(OEM_TABLE_ID, SDT.oemTableId, 'latin1');
  b.writeUInt32LE(1, SDT.oemRevision);
  b.write(CREATOR_ID, SDT.creatorId, 'latin1');
  b.writeUInt32LE(1, SDT.creatorRevision);
  return b;
}

function seal(b: Buffer): Buffer {
  checksum(b, SDT.checksum);
  return b;
}

function madt(vcpus: number): Buffer {
  const size = vcpus * MADT_LAPIC.size + MADT_IOAPIC.size + MADT_OVERRIDE.size + MADT_LAPIC_NMI.size;
  const b = table('APIC', MADT.revision, MADT.entries - SDT.size + size);
  b.writeUInt32LE(LAPIC_ADDR, MADT.lapicAddress);
  b.writeUInt32LE(MADT_PCAT_COMPAT, MADT.flags);
  let at = MADT.entries;
  const entry = (e: { type: number; size: number }) => {
    b[at] = e.type;
    b[at + 1] = e.size;
    const start = at;
    at += e.size;
    return start;
  };
  for (let i = 0; i < vcpus; i++) {
    const e = entry(MADT_LAPIC);
    b[e + MADT_LAPIC.uid] = i;
    b[e + MADT_LAPIC.apicId] = i;
    b.writeUInt32LE(LAPIC_ENABLED, e + MADT_LAPIC.flags);
  }
  let e = entry(MADT_IOAPIC);
  b[e + MADT_IOAPIC.id] = IOAPIC_ID;
  b.writeUInt32LE(IOAPIC_ADDR, e + MADT_IOAPIC.address);
  b.writeUInt32LE(0, e + MADT_IOAPIC.gsiBase);
  e = entry(MADT_OVERRIDE);
  b[e + MADT_OVERRIDE.source] = SCI_IRQ;
  b.writeUInt32LE(SCI_IRQ, e + MADT_OVERRIDE.gsi);
  b.writeUInt16LE(INTI_LEVEL_HIGH, e + MADT_OVERRIDE.flags);
  e = entry(MADT_LAPIC_NMI);
  b[e + MADT_LAPIC_NMI.uid] = ALL_PROCESSORS;
  b.writeUInt16LE(0, e + MADT_LAPIC_NMI.flags);
  b[e + MADT_LAPIC_NMI.lint] = 1;
  return seal(b);
}

function fadt(facs: number, dsdt: number): Buffer {
  const b = table('FACP', FADT.revision, FADT.size - SDT.size);
  b.writeUInt32LE(facs, FADT.firmwareCtrl);
  b.writeUInt32LE(dsdt, FADT.dsdt);
  b.writeUInt16LE(SCI_IRQ, FADT.sciInt);
  b.writeUInt32LE(0, FADT.smiCmd);
  b.writeUInt32LE(PM1_EVT_PORT, FADT.pm1aEvtBlk);
  b.writeUInt32LE(PM1_CNT_PORT, FADT.pm1aCntBlk);
  b.writeUInt32LE(PM_TMR_PORT, FADT.pmTmrBlk);
  b[FADT.pm1EvtLen] = PM1_EVT_LEN;
  b[FADT.pm1CntLen] = PM1_CNT_LEN;
  b[FADT.pmTmrLen] = PM_TMR_LEN;
  b.writeUInt16LE(IAPC_BOOT_ARCH.legacyDevices | IAPC_BOOT_ARCH.i8042, FADT.iapcBootArch);
  b.writeUInt32LE(FADT_FLAGS.wbinvd | FADT_FLAGS.pwrButton | FADT_FLAGS.slpButton | FADT_FLAGS.tmrValExt |
    FADT_FLAGS.resetRegSup, FADT.flags);
  b[FADT.resetReg + GAS.spaceId] = GAS_SYSTEM_IO;
  b[FADT.resetReg + GAS.bitWidth] = 8;
  b[FADT.resetReg + GAS.bitOffset] = 0;
  b[FADT.resetReg + GAS.accessSize] = GAS_ACCESS_BYTE;
  b.writeBigUInt64LE(BigInt(RESET_CONTROL_PORT), FADT.resetReg + GAS.address);
  b[FADT.resetValue] = RESET_VALUE;
  return seal(b);
}

function facsTable(): Buffer {
  const b = Buffer.alloc(FACS.size);
  b.write('FACS', FACS.signature, 'latin1');
  b.writeUInt32LE(FACS.size, FACS.length);
  b[FACS.version] = 1;
  return b;
}

function rsdp(rsdt: number): Buffer {
  const b = Buffer.alloc(RSDP.size);
  b.write('RSD PTR ', RSDP.signature, 'latin1');
  b.write(OEM_ID, RSDP.oemId, 'latin1');
  b[RSDP.revision] = 0;
  b.writeUInt32LE(rsdt, RSDP.rsdt);
  checksum(b, RSDP.checksum);
  return b;
}

/**
 * Writes the tables for `vcpus` vCPUs into guest memory from ACPI_TABLES_ADDR; returns the RSDP's
 * address (the first).
 */
export function writeAcpiTables(mem: Pick<GuestMemory, 'write'>, vcpus: number): number {
  let next = ACPI_TABLES_ADDR;
  const place = (b: Buffer, align = 16): number => {
    const at = Math.ceil(next / align) * align;
    if (at + b.length > ACPI_TABLES_END) {
      throw new GuestError(`the ACPI tables for ${vcpus} vCPUs do not fit below 0x${ACPI_TABLES_END.toString(16)}`);
    }
    mem.write(at, b);
    next = at + b.length;
    return at;
  };
  // The RSDP's place is fixed first; it is written again once the RSDT's address is known.
  const rsdpAt = place(rsdp(0));
  const facs = place(facsTable(), FACS.align);
  const dsdtTable = table('DSDT', 2, DSDT_AML.length);
  DSDT_AML.copy(dsdtTable, SDT.size);
  const dsdt = place(seal(dsdtTable));
  const tables = [place(fadt(facs, dsdt)), place(madt(vcpus))];
  const rsdt = table('RSDT', 1, 4 * tables.length);
  tables.forEach((t, i) => rsdt.writeUInt32LE(t, SDT.size + 4 * i));
  mem.write(rsdpAt, rsdp(place(seal(rsdt))));
  return rsdpAt;
}
