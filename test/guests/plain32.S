/* For the recorder's fast path in 32-bit protected mode (src/debugger/history/plain-step.ts), as
   plain64.S is in 64-bit mode: a base and a scaled index, a negative displacement, an offset that
   wraps at 4 GiB, a data segment with a base of its own (ES), FS, pushes, calls and returns, an
   indirect jump, exchanges, a string move without rep; code run through a code segment whose base
   is not 0 (its EIP is not its linear address); paging turned on (4 MiB pages) and a page
   directory entry rewritten so that one linear page maps elsewhere; code that rewrites a store's
   displacement; and what the general path keeps: rep stosb, a store across a page, lgdt, segment
   loads, far jumps, mov to CR, invlpg, cpuid, out. Three rounds, then its checksum goes to
   isa-debug-exit. The monitor enters it in protected mode, paging off, with its own flat GDT. */
#include "include/fold-exit.inc"
#include "include/paging32.inc"
        .code32
        .globl _start
_start: lea table, %eax                  /* descriptor 0x20: data based at the table */
        mov %eax, %edx
        shl $16, %edx
        or $0xffff, %edx
        mov %edx, gdt_es
        mov %eax, %edx
        and $0xff000000, %edx
        or $0x00cf9300, %edx
        shr $16, %eax
        movzbl %al, %eax
        or %eax, %edx
        mov %edx, gdt_es+4
        lgdt gdt_ptr
        ljmp $0x10, $1f
1:      mov $0x18, %eax
        mov %eax, %ds
        mov %eax, %ss
        mov %eax, %fs
        mov $0x20, %eax                  /* ES: based at the table */
        mov %eax, %es
        lea stack_top, %esp
        lea table, %edi
        mov $3, %ebx
        .globl round
round:  mov %ebx, %eax
        imul $0x9e37, %eax
        mov %eax, (%edi,%ebx,4)          /* base + index * 4 */
        addl $1, counter                 /* an absolute address */
        mov %eax, -4(%edi,%ebx,8)        /* a negative displacement */
        mov $0xfffffffc, %ecx
        mov %eax, counter+12(%ecx)       /* the offset wraps at 4 GiB: counter + 8 */
        mov %eax, %es:16                 /* ES-relative: table + 16 */
        .globl fs_store
fs_store: mov %eax, %fs:table+20         /* FS (flat until the monitor moves it) */
        push %eax
        call helper
        pop %edx
        xchg %edx, 40(%edi)
        lock cmpxchg %ebx, 44(%edi)
        lea 48(%edi), %esi
        push %edi
        lea 52(%edi), %edi
        movsl                            /* no rep: one element, both operands */
        pop %edi
        lea jumped, %eax
        jmp *%eax                        /* indirect: lands anywhere */
        .globl jumped
jumped: enter $8, $0
        movl $7, -4(%ebp)
        leave
        /* Through a code segment based at 0x1000: EIP is the linear address less 0x1000. */
        ljmp $0x28, $based-0x1000
        .globl based
based:  add %eax, counter
        call based_helper
        ljmp $0x10, $flat_again
flat_again:
        /* Left to the general path: rep stosb, a store across a page, cpuid, port output. */
        push %edi
        lea 64(%edi), %edi
        mov $5, %ecx
        mov $0x5a, %al
        rep stosb
        pop %edi
        mov %ebx, cross
        push %ebx
        mov $1, %eax
        cpuid
        pop %ebx
        mov $0x61, %al
        out %al, $0x80
        /* Code that rewrites itself: the displacement of the store at `smc` changes at each pass. */
        mov $2, %esi
2:      lea (%esi,%ebx,2), %edx
        shl $2, %edx
        movb %dl, smc+2
        .globl smc
smc:    .byte 0x89, 0x47, 0x00           /* mov %eax, 0(%edi) */
        dec %esi
        jnz 2b
#ifndef NO_PAGING /* kvm_pvm can't turn paging on in 32-bit mode (test/support/host-facts.ts) */
        /* Paging with 4 MiB pages, identity; then the page at 8 MiB mapped to the one at 12 MiB. */
        paging32_on pd
        movl $0x12345678, 0x800000
        addl $1, 0x800000
        movl $0xc000e3, pd+8
        invlpg 0x800000
        mov %ebx, 0x800004               /* physical 0xc00004 */
        movl $0x8000e3, pd+8
        invlpg 0x800000
        mov 0xc00004, %eax
        add %eax, counter
        mov %cr0, %eax
        and $0x7fffffff, %eax
        mov %eax, %cr0
#endif
        dec %ebx
        jnz round
        /* The checksum: table, counter and the two pages' words, folded into one byte. */
        xor %eax, %eax
        mov $24, %ecx
        lea table, %esi
3:      add (%esi), %eax
        add $4, %esi
        dec %ecx
        jnz 3b
        add counter, %eax
        add counter+8, %eax
#ifndef NO_PAGING
        add 0x800000, %eax
#endif
        fold_exit

helper: mov 4(%esp), %eax
        add $3, %eax
        mov %eax, 4(%esp)
        ret

        /* Called through the based code segment: its return address is an offset in it. */
based_helper:
        addl $2, counter
        ret

        .balign 8
gdt:    .quad 0
        .quad 0
        .quad 0x00cf9b000000ffff         /* 0x10: 32-bit code, flat */
        .quad 0x00cf93000000ffff         /* 0x18: 32-bit data, flat */
        .globl gdt_es
gdt_es: .quad 0                          /* 0x20: data based at the table (written at _start) */
        .quad 0x00cf9b001000ffff         /* 0x28: 32-bit code based at 0x1000 */
gdt_end:
gdt_ptr: .word gdt_end - gdt - 1
        .long gdt

        .balign 64
        .globl table
table:  .fill 24, 4, 0
        .globl counter
counter: .long 0, 0, 0
        .balign 4096
pd:     .long 0x000083, 0x400083, 0x8000e3, 0xc000e3
        .fill 1020, 4, 0
        .fill 4094, 1, 0
        .globl cross
cross:  .fill 8, 1, 0
        .balign 16
        .fill 256, 1, 0
        .globl stack_top
stack_top:
