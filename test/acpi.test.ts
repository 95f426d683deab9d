// The ACPI a Linux guest gets, no KVM: the tables (firmware/acpi.ts) read back as a kernel walks
// them (RSDP → RSDT → FADT, MADT; FADT → FACS, DSDT), every checksum, and the PM registers
// (devices/acpi-pm.ts) driven through their ports as ACPICA does: power-off through SLP_TYP/SLP_EN,
// the PM timer's rate, byte and word accesses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeAcpiTables, SCI_IRQ } from '../src/vmm/firmware/acpi.js';
import {
  AcpiPm, ACPI_PM_RANGES, PM1_CNT_PORT, PM1_EVT_PORT, PM_TMR_PORT, PM_TIMER_HZ, SLP_TYP_S5,
} from '../src/vmm/devices/acpi-pm.js';
import { ACPI_TABLES_ADDR, IOAPIC_ADDR, LAPIC_ADDR } from '../src/vmm/layout.js';
import type { DeviceHost } from '../src/vmm/devices/bus.js';
import type { Stop } from '../src/vmm/debug/stops.js';

function tables(vcpus: number): { mem: Buffer; rsdp: number } {
  const mem = Buffer.alloc(1 << 20);
  const rsdp = writeAcpiTables({ write: (gpa, data) => mem.set(data, gpa) }, vcpus);
  return { mem, rsdp };
}

function sum(b: Buffer): number {
  return b.reduce((a, x) => (a + x) & 0xff, 0);
}

/** A table at `at`, its signature checked and its checksum verified over its length. */
function sdt(mem: Buffer, at: number, signature: string): Buffer {
  assert.equal(mem.toString('latin1', at, at + 4), signature);
  const t = mem.subarray(at, at + mem.readUInt32LE(at + 4));
  assert.equal(sum(t), 0, `${signature} checksum`);
  assert.equal(t.toString('latin1', 10, 16), 'KVMDBG');
  return t;
}

test('the RSDP is where Linux scans for it, 16-byte aligned, ACPI 1.0 form with a good checksum', () => {
  const { mem, rsdp } = tables(1);
  assert.equal(rsdp, ACPI_TABLES_ADDR);
  assert.equal(rsdp % 16, 0);
  assert.equal(mem.toString('latin1', rsdp, rsdp + 8), 'RSD PTR ');
  assert.equal(sum(mem.subarray(rsdp, rsdp + 20)), 0);
  assert.equal(mem[rsdp + 15], 0, 'revision 0: RSDT only');
});

test('RSDT → FADT (PM blocks, SCI, reset register, FACS, DSDT with \\_S5) and MADT (LAPICs, IOAPIC, SCI override, NMI)', () => {
  const vcpus = 3;
  const { mem, rsdp } = tables(vcpus);
  const rsdt = sdt(mem, mem.readUInt32LE(rsdp + 16), 'RSDT');
  const entries = Array.from({ length: (rsdt.length - 36) / 4 }, (_, i) => rsdt.readUInt32LE(36 + 4 * i));
  const bySig = new Map(entries.map((a) => [mem.toString('latin1', a, a + 4), a]));
  assert.deepEqual([...bySig.keys()].sort(), ['APIC', 'FACP']);

  const fadt = sdt(mem, bySig.get('FACP')!, 'FACP');
  assert.equal(fadt.length, 244);
  assert.equal(fadt.readUInt16LE(46), SCI_IRQ);
  assert.equal(fadt.readUInt32LE(48), 0, 'no SMI command port: always in ACPI mode');
  assert.deepEqual([fadt.readUInt32LE(56), fadt.readUInt32LE(64), fadt.readUInt32LE(76)], [PM1_EVT_PORT, PM1_CNT_PORT, PM_TMR_PORT]);
  assert.deepEqual([fadt[88], fadt[89], fadt[91]], [4, 2, 4]);
  assert.ok(fadt.readUInt32LE(112) & (1 << 10), 'RESET_REG_SUP');
  assert.deepEqual([fadt[116], fadt[117], fadt.readBigUInt64LE(120), fadt[128]], [1, 8, 0xcf9n, 6], 'reset: 6 to I/O port 0xCF9');
  const facs = fadt.readUInt32LE(36);
  assert.equal(facs % 64, 0);
  assert.equal(mem.toString('latin1', facs, facs + 4), 'FACS');
  const dsdt = sdt(mem, fadt.readUInt32LE(40), 'DSDT');
  const aml = dsdt.subarray(36);
  assert.deepEqual([...aml], [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, SLP_TYP_S5, 0x0a, SLP_TYP_S5, 0x00, 0x00]);

  const madt = sdt(mem, bySig.get('APIC')!, 'APIC');
  assert.equal(madt.readUInt32LE(36), LAPIC_ADDR);
  assert.equal(madt.readUInt32LE(40), 1, 'PCAT_COMPAT: the 8259s are there');
  const found: { type: number; body: Buffer }[] = [];
  for (let at = 44; at < madt.length; at += madt[at + 1]) found.push({ type: madt[at], body: madt.subarray(at, at + madt[at + 1]) });
  const lapics = found.filter((e) => e.type === 0);
  assert.deepEqual(lapics.map((e) => [e.body[2], e.body[3], e.body.readUInt32LE(4)]), [[0, 0, 1], [1, 1, 1], [2, 2, 1]]);
  const ioapic = found.filter((e) => e.type === 1);
  assert.equal(ioapic.length, 1);
  assert.deepEqual([ioapic[0].body.readUInt32LE(4), ioapic[0].body.readUInt32LE(8)], [IOAPIC_ADDR, 0]);
  const overrides = found.filter((e) => e.type === 2);
  assert.deepEqual(overrides.map((e) => [e.body[3], e.body.readUInt32LE(4), e.body.readUInt16LE(8)]), [[SCI_IRQ, SCI_IRQ, 0x0d]],
    'only the SCI: level, active high; IRQ 0 stays on GSI 0 as KVM routes it');
  const nmi = found.filter((e) => e.type === 4);
  assert.deepEqual(nmi.map((e) => [e.body[2], e.body[5]]), [[0xff, 1]], 'LINT1 is NMI on every CPU');
});

test('the tables for the most vCPUs kvmdbg runs still fit below the BIOS ROM', () => {
  assert.doesNotThrow(() => tables(255));
});

function pm(clock = { ns: 0n }): { dev: AcpiPm; stops: Stop[]; clock: { ns: bigint } } {
  const stops: Stop[] = [];
  const host: DeviceHost = { stop: (s) => stops.push(s), setIrq: () => {} };
  return { dev: new AcpiPm(host, () => 0, () => clock.ns), stops, clock };
}

test('PM1 control: SCI_EN reads set; SLP_TYP S5 with SLP_EN powers off, another sleep type does nothing', () => {
  const { dev, stops } = pm();
  assert.equal(dev.read(PM1_CNT_PORT, 2) & 1, 1);
  dev.write(PM1_CNT_PORT, 2, (SLP_TYP_S5 << 10) | 1); // ACPICA writes SLP_TYP first...
  assert.deepEqual(stops, []);
  dev.write(PM1_CNT_PORT, 2, (1 << 13) | (3 << 10)); // S3: ignored
  assert.deepEqual(stops, []);
  assert.equal(dev.read(PM1_CNT_PORT, 2) & (1 << 13), 0, 'SLP_EN is write-only');
  dev.write(PM1_CNT_PORT + 1, 1, ((1 << 13) | (SLP_TYP_S5 << 10)) >> 8); // ...then SLP_EN, here as a byte
  assert.deepEqual(stops, [{ kind: 'poweroff', vcpu: 0 }]);
});

test('PM1 event block: status reads 0, enable reads back as written (word and byte accesses)', () => {
  const { dev } = pm();
  dev.write(PM1_EVT_PORT, 2, 0xffff);
  assert.equal(dev.read(PM1_EVT_PORT, 2), 0);
  dev.write(PM1_EVT_PORT + 2, 2, 0x0120);
  assert.equal(dev.read(PM1_EVT_PORT + 2, 2), 0x0120);
  assert.equal(dev.read(PM1_EVT_PORT + 3, 1), 0x01);
  assert.equal(dev.read(PM1_EVT_PORT, 4), 0x0120_0000);
});

test('PM timer: 3.579545 MHz from the clock, 32 bits wide, one count per 32-bit read', () => {
  const { dev, clock } = pm();
  clock.ns = 1_000_000_000n;
  assert.equal(dev.read(PM_TMR_PORT, 4), PM_TIMER_HZ);
  clock.ns = 2_000_000_000_000n; // wraps at 2^32 counts (20 minutes)
  assert.equal(dev.read(PM_TMR_PORT, 4), (PM_TIMER_HZ * 2000) % 2 ** 32);
  assert.equal(dev.read(PM_TMR_PORT + 3, 1), ((PM_TIMER_HZ * 2000) % 2 ** 32) >>> 24);
});

test('the PM ranges are the FADT blocks and do not overlap', () => {
  const ports = ACPI_PM_RANGES.flatMap(([base, n]) => Array.from({ length: n }, (_, i) => base + i));
  assert.equal(new Set(ports).size, ports.length);
  assert.deepEqual(ACPI_PM_RANGES.map(([b]) => b), [PM1_EVT_PORT, PM1_CNT_PORT, PM_TMR_PORT]);
});
