/* Spins forever without a single exit, counting in RAX: for pause. */
        .code64
        .globl _start
_start: xor %eax, %eax
        .globl spin
spin:   inc %rax
        jmp spin
