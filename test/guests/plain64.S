/* For the recorder's fast path (src/debugger/history/plain-step.ts): the plain instructions it
   records itself, with every address form it works out in numbers (a base and a scaled index,
   RIP-relative, a negative index whose sum carries, 32-bit addressing that wraps, FS-relative),
   pushes, calls and returns, an indirect jump, exchanges, a string move without rep; around
   them what it leaves to the general path: rep stosb, a store across a page, wrmsr, cpuid, an
   out, and the changes that must drop what it kept: code that rewrites a store's displacement,
   a page-directory entry rewritten (then invlpg) so that one linear page maps elsewhere. Three rounds, then it
   writes its checksum to isa-debug-exit. */
#include "include/fold-exit.inc"
        .code64
        .globl _start
_start: lea stack_top(%rip), %rsp
        lea table(%rip), %rdi
        mov $3, %r12d
        /* FS base at the table (a privileged wrmsr: the general path). */
        mov $0xc0000100, %ecx
        mov %edi, %eax
        xor %edx, %edx
        wrmsr
        /* PD entry 3 (0x600000, identity) with Accessed and Dirty set: its first store is plain. */
        movq $0x6000e3, 0x3018
        invlpg 0x600000
        .globl round
round:  mov %r12d, %eax
        imul $0x9e37, %eax
        mov %eax, (%rdi,%r12,4)         /* base + index * 4 */
        addl $1, counter(%rip)           /* RIP-relative read-modify-write */
        mov $-1, %rcx
        mov %rax, 8(%rdi,%rcx,8)        /* a negative index: the low word carries into the high one */
        mov $0xfffffffc, %ebx
        mov %eax, 12(%ebx)              /* 32-bit addressing: 0xfffffffc + 12 wraps to 8 */
        .globl fs_store
fs_store: mov %rax, %fs:32              /* FS-relative: table + 32 */
        push %rax
        call helper
        pop %rdx
        xchg %rdx, 40(%rdi)
        mov 40(%rdi), %rax
        lock cmpxchg %r12, 48(%rdi)
        lea 64(%rdi), %rsi
        push %rdi
        lea 72(%rdi), %rdi
        movsq                            /* no rep: one element, both operands */
        pop %rdi
        lea jumped(%rip), %rax
        jmp *%rax                        /* indirect: lands anywhere */
        .globl jumped
jumped: enter $16, $0
        movq $7, -8(%rbp)
        leave
        /* Left to the general path: rep stosb, a store across a page, cpuid, port output. */
        push %rdi
        lea 128(%rdi), %rdi
        mov $5, %ecx
        mov $0x5a, %al
        rep stosb
        pop %rdi
        mov %r12, cross(%rip)            /* 8 bytes from 4 before a page's end */
        mov $1, %eax
        cpuid
        mov $0x61, %al
        out %al, $0x80
        /* Code that rewrites itself: the displacement of the store at `smc` changes at each pass,
           two passes a round. */
        mov $2, %r13d
2:      lea (%r13,%r12,2), %edx
        shl $3, %edx
        movb %dl, smc+2(%rip)
        .globl smc
smc:    .byte 0x89, 0x47, 0x00           /* mov %eax, 0(%rdi): 64, 56, then 48, 40, then 32, 24 */
        dec %r13d
        jnz 2b
        /* A linear page mapped elsewhere: PD entry 3 (0x600000) to the 2 MiB page at 0x800000,
           Accessed and Dirty already set, so that the store through it is plain at once. */
        movq $0x12345678, 0x600000
        addq $1, 0x600000
        movq $0x8000e3, 0x3018
        invlpg 0x600000
        mov %r12, 0x600008               /* physical 0x800008 */
        movq $0x6000e3, 0x3018
        invlpg 0x600000
        mov 0x800008, %rax
        add %rax, counter(%rip)
        dec %r12d
        jnz round
        /* The checksum: table, counter and the two pages' words, folded into one byte. */
        xor %eax, %eax
        mov $24, %ecx
        lea table(%rip), %rsi
1:      add (%rsi), %rax
        add $8, %rsi
        dec %ecx
        jnz 1b
        add counter(%rip), %rax
        add 0x600000, %rax
        add 8, %rax
        mov %rax, %rdx
        shr $32, %rdx
        xor %edx, %eax
        fold_exit

helper: mov 8(%rsp), %rax
        add $3, %rax
        mov %rax, 8(%rsp)
        ret

        .balign 64
        .globl table
table:  .fill 24, 8, 0
        .globl counter
counter: .quad 0
        .balign 4096
        .fill 4092, 1, 0
        .globl cross
cross:  .fill 12, 1, 0
        .balign 16
        .fill 256, 1, 0
        .globl stack_top
stack_top:
