# The QEMU + gdb side of the DAP benchmark, run inside gdb:
#   gdb -q -batch -nx -x bench/dap/gdb_bench.py kernel.elf
# with BENCH_PORT, BENCH_KMAIN, BENCH_END, BENCH_DURATION_MS, BENCH_WARMUP_MS, BENCH_MEM_MS,
# BENCH_FRESH and BENCH_OUT (where the JSON result goes) in the environment.
#
# Stop cycle: `stepi` then `info registers rip` (gdb fetches the registers after each stepi;
# `info registers rip` is what a person would look at). Registers + memory: `info registers` then
# `x/64xb $rsp`, repeated at one stop, and once after each step with gdb's register cache
# flushed first ("fresh": the registers come from the stub again).
# The guest is stepped from kmain to BENCH_END, then rip/rsp/rbp are put back to their values at
# kmain (untimed), exactly as the kvmdbg side does.
import gdb
import json
import os
import time

port = os.environ['BENCH_PORT']
kmain = int(os.environ['BENCH_KMAIN'], 0)
end = int(os.environ['BENCH_END'], 0)
duration = float(os.environ.get('BENCH_DURATION_MS', '2000')) / 1000
warmup = float(os.environ.get('BENCH_WARMUP_MS', '300')) / 1000
mem_time = float(os.environ.get('BENCH_MEM_MS', '1000')) / 1000
fresh_count = int(os.environ.get('BENCH_FRESH', '100'))
out = os.environ['BENCH_OUT']

gdb.execute('set pagination off')
gdb.execute('set confirm off')

# QEMU may still be starting: retry the connection for a while.
deadline = time.time() + 15
while True:
    try:
        gdb.execute('target remote 127.0.0.1:%s' % port, to_string=True)
        break
    except gdb.error:
        if time.time() > deadline:
            raise
        time.sleep(0.05)

# Software breakpoints fail under QEMU+KVM on this host: a hardware one.
gdb.execute('hbreak *0x%x' % kmain, to_string=True)
gdb.execute('continue', to_string=True)
pc = int(gdb.parse_and_eval('$pc'))
if pc != kmain:
    raise gdb.GdbError('stopped at 0x%x, not kmain' % pc)
# Deleted once there: with a breakpoint at kmain, the first stepi after `set $pc = kmain` reports
# the breakpoint without executing anything. (The kvmdbg side clears its breakpoint too.)
gdb.execute('delete', to_string=True)
start_sp = int(gdb.parse_and_eval('$sp'))
start_bp = int(gdb.parse_and_eval('$rbp'))


# QEMU + KVM on an SVM host (the test VM's nested kvm_amd) loses the first single step after
# `set $pc`: QEMU writes the registers after it has set guest debug, and KVM keeps a step's trap
# flag only at the RIP it saw then (kvm_set_rflags against singlestep_rip), so that stepi runs on
# and never stops. (kvmdbg sets guest debug again after a register write: Vcpu.rearmStep.) So
# the first step after each reset is a continue to a temporary hardware breakpoint on the
# instruction one step from kmain: the same stop, one breakpoint more per pass.
state = {'steps': 0, 'per_pass': 0, 'after_reset': False}


def reset():
    gdb.execute('set $pc = 0x%x' % kmain, to_string=True)
    gdb.execute('set $sp = 0x%x' % start_sp, to_string=True)
    gdb.execute('set $rbp = 0x%x' % start_bp, to_string=True)
    gdb.execute('thbreak *0x%x' % second, to_string=True)
    state['after_reset'] = True


def step():
    if state['after_reset']:
        state['after_reset'] = False
        gdb.execute('continue', to_string=True)
    else:
        gdb.execute('stepi', to_string=True)


gdb.execute('stepi', to_string=True)
second = int(gdb.parse_and_eval('$pc'))
reset()


def cycle():
    t0 = time.perf_counter()
    step()
    r = gdb.execute('info registers rip', to_string=True)
    dt = time.perf_counter() - t0
    state['steps'] += 1
    if int(r.split()[1], 16) == end:
        if state['per_pass'] and state['per_pass'] != state['steps']:
            raise gdb.GdbError('pass of %d steps after one of %d' % (state['steps'], state['per_pass']))
        state['per_pass'] = state['steps']
        state['steps'] = 0
        reset()
    return dt


t = time.perf_counter()
while time.perf_counter() - t < warmup:
    cycle()
busy = 0.0
cycles = 0
while busy < duration:
    busy += cycle()
    cycles += 1


def regs_mem():
    gdb.execute('info registers', to_string=True)
    m = gdb.execute('x/64xb $rsp', to_string=True)
    if m.count('0x') < 64:
        raise gdb.GdbError('x/64xb: %s' % m)


for i in range(10):
    regs_mem()
n = 0
t = time.perf_counter()
while time.perf_counter() - t < mem_time:
    regs_mem()
    n += 1
regs_mem_ms = (time.perf_counter() - t) / n * 1000

fresh = 0.0
for i in range(fresh_count):
    step()
    gdb.execute('maintenance flush register-cache', to_string=True)
    t0 = time.perf_counter()
    regs_mem()
    fresh += time.perf_counter() - t0
    if int(gdb.parse_and_eval('$pc')) == end:
        reset()

with open(out, 'w') as f:
    json.dump({
        'cyclesPerSec': cycles / busy,
        'cycles': cycles,
        'stepsPerPass': state['per_pass'],
        'regsMemMs': regs_mem_ms,
        'regsMemFreshMs': fresh / fresh_count * 1000,
    }, f)

gdb.execute('kill', to_string=True)
