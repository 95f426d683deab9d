/* A flat 64-bit guest for continuing from breakpoints (machine.test.ts): instructions that KVM
   completes itself (cpuid, an out answered in user space) right before others, where a
   breakpoint on each must fire in turn whether the monitor passes over them with RFLAGS.RF or
   with a single step, and an exit right under a breakpoint. */
        .code64
        .globl _start
_start:
        xor %r8d, %r8d
        xor %r9d, %r9d
        xor %r10d, %r10d
        .globl loop
loop:   inc %r8
        xor %eax, %eax
        .globl at_cpuid
at_cpuid:
        cpuid
        .globl after_cpuid
after_cpuid:
        inc %r9
        .globl at_out
at_out: out %al, $0x80
        .globl after_out
after_out:
        inc %r10
        cmp $3, %r8
        jne loop
        mov $0x2a, %al
        .globl at_exit
at_exit:
        out %al, $0xf4
        hlt
