/* Reverse execution against QEMU's record/replay (bench/qemu-rr.ts): fill.S's loop, run BEFORE
   rounds, then AFTER rounds more from a marked instruction (`mark`, the breakpoint that
   reverse-continue goes back to), and the end at `done`: a 'D' on COM1, then hlt with interrupts
   off. Rounds are counted in %r8d (10 instructions a round). A Multiboot image (a.out kludge: a
   flat file loaded at 0x100000) that enters long mode itself, so that kvmdbg and QEMU boot it the
   same way and execute the same instructions from its entry. BEFORE and AFTER come from -D at
   build time. */
        .code32
        .globl _start
_start:
mb:     .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
        .long mb, mb, end, end, entry32        /* header, load, load_end, bss_end, entry */

entry32:
        cli
        mov $pml4, %eax
        mov %eax, %cr3
        mov %cr4, %eax
        or $0x20, %eax                          /* PAE */
        mov %eax, %cr4
        mov $0xC0000080, %ecx                   /* EFER.LME */
        rdmsr
        or $0x100, %eax
        wrmsr
        mov %cr0, %eax
        or $0x80000001, %eax                    /* PG, PE */
        mov %eax, %cr0
        lgdt gdtr
        ljmp $8, $long64

        .code64
long64: mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        lea stack_top(%rip), %rsp
        lea ring(%rip), %rdi
        xor %ecx, %ecx
        mov $BEFORE, %r8d
        call fill
        mov $AFTER, %r8d
        .globl mark
mark:   call fill                               /* executed once */
        .globl done
/* Not an exit through isa-debug-exit: QEMU's exit() there leaves the end of the replay log
   unwritten, and the replay stops short of the guest. The bench quits it through its monitor. */
done:   mov $0x3f8, %dx
        mov $'D', %al
        out %al, %dx
        cli
1:      hlt
        jmp 1b

fill:   mov %ecx, %eax
        imul $3, %eax
        mov %eax, (%rdi,%rcx,4)
        call touch
        inc %ecx
        and $1023, %ecx
        dec %r8d
        jnz fill
        ret
touch:  addl $1, ring+4096(%rip)
        ret

        .balign 8
gdt:    .quad 0
        .quad 0x00AF9A000000FFFF                /* 0x08: 64-bit code */
        .quad 0x00CF92000000FFFF                /* 0x10: data */
gdtr:   .word gdtr - gdt - 1
        .long gdt

        .balign 4096                            /* identity map of the low 4 MiB, 2 MiB pages */
pml4:   .quad pdpt + 3
        .fill 511, 8, 0
pdpt:   .quad pd + 3
        .fill 511, 8, 0
pd:     .quad 0x83, 0x200083
        .fill 510, 8, 0
ring:   .fill 4096 + 8, 1, 0
        .balign 16
        .fill 256, 1, 0
stack_top:
end:
