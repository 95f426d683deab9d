/* Recording bench: a loop forever that writes memory (a 4 KiB ring of dwords) and calls, so the
   undo log saves stores and pushes as well as registers. */
        .code64
        .globl _start
_start: lea stack_top(%rip), %rsp
        lea ring(%rip), %rdi
        xor %ecx, %ecx
1:      mov %ecx, %eax
        imul $3, %eax
        mov %eax, (%rdi,%rcx,4)
        call touch
        inc %ecx
        and $1023, %ecx
        jmp 1b
touch:  addl $1, ring+4096(%rip)
        ret
        .balign 4096
ring:   .fill 4096 + 8, 1, 0
        .balign 16
        .fill 256, 1, 0
stack_top:
