#!/usr/bin/env python3
"""Measures candidate fixes to the monitor's hot paths without touching src/.

For each stage N (0 = src/ as it is), copies src/ and bench/monitor.ts to a temporary
directory, applies the patches of stages 1..N, and bundles the copy with esbuild into
bench/build/candidates/stageN.js. Then runs interleaved rounds of the C reference, the koffi
floor and every stage, and prints best and median per side as a markdown table.

    node --import tsx bench/run.ts --rounds 1     # builds bench/build (ref, guests)
    python3 bench/candidates/candidates.py [ROUNDS]

The patches match source text, so they fail loudly ("pattern not found") once src/ changes
under them. They were written against src/ at commit a412336.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(ROOT, 'bench', 'build')
OUT = os.path.join(BUILD, 'candidates')

# (stage, file under src/, old text, new text)
PATCHES = [
    # 1a. Vcpu.setGuestDebug: compare with the last values instead of building a string key.
    (1, 'vmm/vcpu.ts', """  setGuestDebug(control: number, debugreg: readonly bigint[]): void {
    const key = `${control}:${debugreg.join(',')}`;
    if (key === this.lastDebug) return;""", """  private lastControlWord = -1;
  private readonly lastDebugRegs: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  setGuestDebug(control: number, debugreg: readonly bigint[]): void {
    if (control === this.lastControlWord) {
      let same = true;
      for (let i = 0; i < 8; i++) if (this.lastDebugRegs[i] !== (debugreg[i] ?? 0n)) { same = false; break; }
      if (same) return;
    }
    const key = '';"""),
    (1, 'vmm/vcpu.ts', """    this.lastDebug = key;""", """    this.lastDebug = key;
    this.lastControlWord = control;
    for (let i = 0; i < 8; i++) this.lastDebugRegs[i] = debugreg[i] ?? 0n;"""),
    # 1b. Machine.applyGuestDebug: no watch traps to apply without data watches (or traps set).
    (1, 'vmm/machine.ts', """    this.lastControl = { flags: control, regs };
    if (memslots) this.applyWatchTraps();""", """    if (this.lastControl.flags !== control || this.lastControl.regs !== regs) this.lastControl = { flags: control, regs };
    if (memslots && (this.physWatches.length > 0 || bp.hw.some((h) => h !== undefined && h.kind !== 'execute'))) this.applyWatchTraps();"""),
    # 1c. Machine.execute: no clock read for an exit that ends the call (every single step).
    (1, 'vmm/machine.ts', """    const deadline = performance.now() + SLICE_MS;
    const kicker = this.kicker;""", """    let deadline = -1;
    const kicker = this.kicker;"""),
    (1, 'vmm/machine.ts', """      if (performance.now() > deadline) return null;
    }
  }""", """      const now = performance.now();
      if (deadline < 0) deadline = now + SLICE_MS;
      else if (now > deadline) return null;
    }
  }"""),
    # 1d. Machine.decodeDebug: DR6 as a number, the PC only for #BP.
    (1, 'vmm/machine.ts', """    const pc = run.readBigUInt64LE(o.debug_pc);
    if (exception === 3) return this.onInt3(v, pc);
    const dr6 = run.readBigUInt64LE(o.debug_dr6);
    for (let slot = 0; slot < 4; slot++) {
      const h = this.breakpoints.hw[slot];
      if (!h || !(dr6 & (1n << BigInt(slot)))) continue;""", """    if (exception === 3) return this.onInt3(v, run.readBigUInt64LE(o.debug_pc));
    const dr6 = run.readUInt32LE(o.debug_dr6);
    if (dr6 & 0xf) for (let slot = 0; slot < 4; slot++) {
      const h = this.breakpoints.hw[slot];
      if (!h || !(dr6 & (1 << slot))) continue;"""),
    (1, 'vmm/machine.ts', """    if (singleStep || dr6 & DR6_BS) return""", """    if (singleStep || dr6 & 0x4000) return"""),
    # 1e. Kicker: no setTimeout + clearTimeout per step; one pending check disarms the slice
    #     timer once a whole DISARM_AFTER_MS passes without an entry.
    (1, 'vmm/kicker.ts', """    this.ctl[VCPU] = index;
    if (this.disarmTimer) {
      clearTimeout(this.disarmTimer);
      this.disarmTimer = undefined;
    }
    if (!this.armed) {""", """    this.ctl[VCPU] = index;
    this.uses++;
    if (!this.armed) {"""),
    (1, 'vmm/kicker.ts', """  idle(): void {
    if (!this.armed || this.disarmTimer) return;
    this.disarmTimer = setTimeout(() => {
      this.disarmTimer = undefined;
      sys.timerSet(this.timer, 0);""", """  private uses = 0;
  idle(): void {
    if (!this.armed || this.disarmTimer) return;
    const seen = this.uses;
    this.disarmTimer = setTimeout(() => {
      this.disarmTimer = undefined;
      if (this.uses !== seen) return this.idle();
      sys.timerSet(this.timer, 0);"""),
    # 2a. The linear RIP of a debug exit (kvm_run.debug.arch.pc) stands in for KVM_GET_REGS +
    #     KVM_GET_SREGS in linearRip() until the vCPU runs again or its registers are written.
    (2, 'vmm/vcpu.ts', """  enter(): number {
    return sys.ioctlRaw(this.fd, abi.KVM_RUN, 0);""", """  knownLinearRip: bigint | undefined;
  enter(): number {
    this.knownLinearRip = undefined;
    return sys.ioctlRaw(this.fd, abi.KVM_RUN, 0);"""),
    (2, 'vmm/vcpu.ts', """  storeRegs(): void {
""", """  storeRegs(): void {
    this.knownLinearRip = undefined;
"""),
    (2, 'vmm/vcpu.ts', """  setSregs(changes: Partial<Sregs>): void {
""", """  setSregs(changes: Partial<Sregs>): void {
    this.knownLinearRip = undefined;
"""),
    (2, 'vmm/machine.ts', """    const exception = run.readUInt32LE(o.debug_exception);
""", """    const exception = run.readUInt32LE(o.debug_exception);
    v.knownLinearRip = run.readBigUInt64LE(o.debug_pc);
"""),
    (2, 'vmm/machine.ts', """  linearRip(index: number): bigint {
    const v = this.vcpu(index);
""", """  linearRip(index: number): bigint {
    const v = this.vcpu(index);
    if (v.knownLinearRip !== undefined) return v.knownLinearRip;
"""),
    # 2b. BreakpointTable.debugRegisters: computed once per table change and skip slot.
    (2, 'vmm/debug/breakpoints.ts', """  debugRegisters(skip = -1, executeOnly = false): bigint[] {
""", """  private drCache = new Map<number, bigint[]>();
  debugRegisters(skip = -1, executeOnly = false): bigint[] {
    const k = (skip + 1) * 2 + (executeOnly ? 1 : 0);
    let r = this.drCache.get(k);
    if (!r) this.drCache.set(k, (r = this.computeDebugRegisters(skip, executeOnly)));
    return r;
  }
  private computeDebugRegisters(skip: number, executeOnly: boolean): bigint[] {
"""),
] + [
    (2, 'vmm/debug/breakpoints.ts', fn, fn + '\n    this.drCache.clear();')
    for fn in ['addHardware(address: bigint, kind: WatchKind, length: HwLength = 1): number {',
               'remove(id: number): boolean {', 'clear(): void {']
] + [
    # 3. I/O exits: a clock read every 16 exits, the data offset as a 32-bit read.
    (3, 'vmm/machine.ts', """      const now = performance.now();
      if (deadline < 0) deadline = now + SLICE_MS;
      else if (now > deadline) return null;""", """      if ((++exits & 15) === 1) {
        const now = performance.now();
        if (deadline < 0) deadline = now + SLICE_MS;
        else if (now > deadline) return null;
      }"""),
    (3, 'vmm/machine.ts', """    let deadline = -1;""", """    let deadline = -1, exits = 0;"""),
    (3, 'vmm/machine.ts', """    let off = Number(run.readBigUInt64LE(o.io_data_offset));""",
     """    let off = run.readUInt32LE(o.io_data_offset);"""),
]
STAGES = [0, 1, 2, 3]
METRICS = [('step', 'step', 'steps/s'), ('stepRegs', 'stepRegs', 'steps/s'), ('io', 'ioUs', 'µs/exit'), ('bp', 'bpHits', 'hits/s')]

BUNDLE = """
const { build } = require('esbuild');
build({ bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['koffi', 'vscode'],
  logLevel: 'warning', entryPoints: [process.argv[1]], outfile: process.argv[2] }).catch(() => process.exit(1));
"""


def build_stage(stage):
    tmp = tempfile.mkdtemp(prefix=f'kvmdbg-stage{stage}-')
    try:
        shutil.copytree(os.path.join(ROOT, 'src'), os.path.join(tmp, 'src'))
        os.mkdir(os.path.join(tmp, 'bench'))
        shutil.copy(os.path.join(ROOT, 'bench', 'monitor.ts'), os.path.join(tmp, 'bench'))
        for s, path, old, new in PATCHES:
            if s > stage:
                continue
            p = os.path.join(tmp, 'src', path)
            text = open(p).read()
            if old not in text:
                sys.exit(f'stage {s}: {path}: pattern not found:\n{old}')
            open(p, 'w').write(text.replace(old, new, 1))
        out = os.path.join(OUT, f'stage{stage}.js')
        subprocess.run(['node', '-e', BUNDLE, os.path.join(tmp, 'bench', 'monitor.ts'), out], cwd=ROOT, check=True)
        return out
    finally:
        shutil.rmtree(tmp)


def measure(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.makedirs(OUT, exist_ok=True)
    bundles = {s: build_stage(s) for s in STAGES}
    bp = next(l.split()[0] for l in subprocess.run(['nm', os.path.join(BUILD, 'spin.elf')], capture_output=True,
                                                    text=True, check=True).stdout.splitlines() if l.endswith(' bp_here'))
    common = [os.path.join(BUILD, 'spin.bin'), os.path.join(BUILD, 'io-IO_COUNT_100000.bin'), '0x' + bp, '100000', '1000', '200']
    sides = [('C', [os.path.join(BUILD, 'ref')] + common), ('floor', ['node', bundles[0], '--floor'] + common)]
    sides += [(f'stage {s}', ['node', bundles[s]] + common) for s in STAGES]
    samples = {(name, m): [] for name, _ in sides for m, _, _ in METRICS}
    for r in range(rounds):
        for i, (metric, key, _) in enumerate(METRICS):
            order = sides[(r + i) % len(sides):] + sides[:(r + i) % len(sides)]
            for name, cmd in order:
                samples[(name, metric)].append(measure(cmd + [metric])[key])
        print(f'round {r + 1}/{rounds} done', file=sys.stderr)
    # Load from other processes only ever slows a run down: the best run of each side is the
    # least disturbed one, so the table compares best with best (medians alongside).
    def best(name, metric, key):
        xs = samples[(name, metric)]
        return min(xs) if key == 'ioUs' else max(xs)

    print('| metric | ' + ' | '.join(name for name, _ in sides) + ' |')
    print('|---' * (len(sides) + 1) + '|')
    for metric, key, unit in METRICS:
        cb = best('C', metric, key)
        cells = []
        for name, _ in sides:
            b, med = best(name, metric, key), statistics.median(samples[(name, metric)])
            f = (lambda x: f'{x:.2f}') if key == 'ioUs' else (lambda x: f'{x:,.0f}')
            cells.append(f'{f(b)} / {f(med)}' + ('' if name == 'C' else f' (**{b / cb:.3f}**)'))
        print(f'| {metric} ({unit}) | ' + ' | '.join(cells) + ' |')
    print(f'\nBest / median of {rounds} interleaved rounds (best: highest rate, lowest µs); in parentheses, '
          'best over C\'s best (rates: higher is better; µs/exit: lower is better).')


if __name__ == '__main__':
    main()
