/* Spins forever without a single exit, counting in RAX: for pause. */
        .code64
        .globl _start
_start: xor %eax, %eax
        .globl once
once:   nop                     /* run once: a breakpoint here is hit once, then the guest spins */
        .globl spin
spin:   inc %rax
        jmp spin
