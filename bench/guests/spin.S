/* Bench guest: a 64-bit spin loop that never exits by itself, entered in long mode at
   0x100000 (flat image). Single-step runs walk through it; the hit-rate run puts a DR0 execute
   breakpoint on `bp_here`, hit once per iteration. */
        .code64
        .globl _start
_start:
        xor %eax, %eax
        xor %ebx, %ebx
        .globl loop
loop:   inc %rax
        .globl bp_here
bp_here:
        inc %rbx
        jmp loop
