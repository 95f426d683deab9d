# gdb script for test/dwarf-variables.test.ts: runs a test program (as a Linux process) and
# steps through the functions named in DUMP_FUNCS an instruction at a time (over calls, into
# calls of the other listed functions), writing at every stop one JSON line to DUMP_OUT: the
# registers (DWARF numbers), the stack around the stack pointer and the DUMP_REGIONS memory, and
# for the innermost frames (inlined ones, the function, its caller) each variable gdb has in
# scope with the bytes of its value ("--" for bytes gdb has no value for).
import json
import os

import gdb

out = open(os.environ['DUMP_OUT'], 'w')
bits = int(os.environ['DUMP_BITS'])
funcs = [f for f in os.environ['DUMP_FUNCS'].split(',') if f]
regions = []
for r in os.environ.get('DUMP_REGIONS', '').split(','):
    if r:
        lo, hi = r.split(':')
        regions.append((int(lo, 16), int(hi, 16)))
max_stops = int(os.environ.get('DUMP_MAX_STOPS', '4000'))

if bits == 64:
    REGS = [('rax', 0), ('rdx', 1), ('rcx', 2), ('rbx', 3), ('rsi', 4), ('rdi', 5), ('rbp', 6), ('rsp', 7)]
    REGS += [('r%d' % i, i) for i in range(8, 16)] + [('rip', 16)] + [('xmm%d' % i, 17 + i) for i in range(16)]
    REGS += [('st%d' % i, 33 + i) for i in range(8)]
    SP = 'rsp'
else:
    REGS = [('eax', 0), ('ecx', 1), ('edx', 2), ('ebx', 3), ('esp', 4), ('ebp', 5), ('esi', 6), ('edi', 7), ('eip', 8)]
    REGS += [('st%d' % i, 11 + i) for i in range(8)] + [('xmm%d' % i, 21 + i) for i in range(8)]
    SP = 'esp'

gdb.execute('set pagination off')
gdb.execute('set confirm off')
uchar = gdb.lookup_type('unsigned char')


def reg(frame, name):
    v = frame.read_register(name)
    if name.startswith('st'):
        # The 80-bit x87 register's bytes, not its value as a number.
        raw = v.cast(gdb.lookup_type('unsigned char').array(9))
        return sum(int(raw[i]) << (8 * i) for i in range(10))
    if name.startswith('xmm'):
        halves = v['v2_int64']
        m = (1 << 64) - 1
        return (int(halves[0]) & m) | ((int(halves[1]) & m) << 64)
    return int(v) & ((1 << bits) - 1)


def readmem(addr, n):
    try:
        return bytes(gdb.selected_inferior().read_memory(addr, n))
    except gdb.MemoryError:
        return None


def stack_dump(sp):
    lo = sp - 1024
    hi = sp + 8192
    while hi > sp:
        m = readmem(lo, hi - lo)
        if m is not None:
            return [hex(lo), m.hex()]
        hi -= 256
    return [hex(lo), '']


def valbytes(v):
    t = v.type.strip_typedefs()
    n = t.sizeof
    if n == 0:
        return ''
    if t.code == gdb.TYPE_CODE_ARRAY:
        lo, hi = t.range()
        el = t.target().sizeof
        parts = []
        for i in range(lo, hi + 1):
            try:
                parts.append(valbytes(v[i]))
            except gdb.error:
                parts.append('--' * el)
        return ''.join(parts)
    try:
        a = v.cast(uchar.array(n - 1))
    except gdb.error:
        return None
    out = []
    for i in range(n):
        try:
            out.append('%02x' % int(a[i]))
        except gdb.error:
            out.append('--')
    return ''.join(out)


def frame_vars(f):
    res = []
    try:
        b = f.block()
    except RuntimeError:
        return None
    while b is not None:
        for s in b:
            if not (s.is_variable or s.is_argument or s.is_constant):
                continue
            e = {'name': s.name, 'arg': bool(s.is_argument), 'type': str(s.type), 'class': s.addr_class}
            try:
                e['bytes'] = valbytes(s.value(f))
            except Exception as ex:  # noqa: BLE001 - any gdb failure is reported as such
                e['error'] = str(ex)
            res.append(e)
        if b.function is not None:
            break
        b = b.superblock
    return res


def dump():
    f0 = gdb.newest_frame()
    regs = {}
    for name, num in REGS:
        regs[str(num)] = hex(reg(f0, name))
    sp = reg(f0, SP)
    mem = [stack_dump(sp)]
    for lo, hi in regions:
        m = readmem(lo, hi - lo)
        if m is not None:
            mem.append([hex(lo), m.hex()])
    frames = []
    f = f0
    normals = 0
    while f is not None and normals < 2:
        fn = f.function()
        if fn is None:
            break
        frames.append({'name': fn.name, 'inline': f.type() == gdb.INLINE_FRAME, 'pc': hex(f.pc()), 'vars': frame_vars(f)})
        if f.type() == gdb.NORMAL_FRAME:
            normals += 1
        f = f.older()
    out.write(json.dumps({'pc': hex(f0.pc()), 'regs': regs, 'mem': mem, 'frames': frames}) + '\n')


entries = {}
for name in funcs:
    sym = gdb.lookup_global_symbol(name) or gdb.lookup_static_symbol(name)
    if sym is None:
        raise gdb.GdbError('no function ' + name)
    start = int(sym.value().address)
    b = gdb.block_for_pc(start)
    while b.function is None:
        b = b.superblock
    entries[start] = (name, b.start, b.end)
    gdb.Breakpoint('*0x%x' % start, internal=True)

stops = 0


def cur():
    f = gdb.newest_frame()
    return int(f.pc()), reg(f, SP)


def alive():
    return gdb.selected_inferior().pid != 0


def step_function(lo, hi):
    """Steps one activation of the function [lo, hi) until it returns; False when the program ended."""
    global stops
    _, sp_entry = cur()
    while stops < max_stops:
        dump()
        stops += 1
        try:
            gdb.execute('nexti', to_string=True)
        except gdb.error:
            return False
        if not alive():
            return False
        pc, sp = cur()
        if pc in entries and sp < sp_entry:
            _, nlo, nhi = entries[pc]
            if not step_function(nlo, nhi):
                return False
            pc, sp = cur()
        if lo <= pc < hi and sp <= sp_entry:
            continue
        return True
    return False


gdb.execute('run', to_string=True)
while alive() and stops < max_stops:
    pc, _ = cur()
    if pc not in entries:
        break
    _, lo, hi = entries[pc]
    if not step_function(lo, hi):
        break
    if not alive():
        break
    try:
        gdb.execute('continue', to_string=True)
    except gdb.error:
        break
out.write(json.dumps({'done': True, 'stops': stops}) + '\n')
out.close()
if alive():
    gdb.execute('kill', to_string=True)
