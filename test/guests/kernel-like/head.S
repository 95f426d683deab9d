/* The kernel-like guest's entry (kernel-like.test.ts): loaded flat at 1 MiB and entered there in
   long mode on kvmdbg's identity tables, as the real kernel's startup_64 is entered at its
   physical address. Like it, it maps itself in the kernel half (PML4[511] -> PDPT[510] -> PD[8]
   and PD[9], 2 MiB pages of physical 0-4 MiB at 0xffffffff81000000, where vmlinux.ld links it),
   jumps to its virtual address, takes a stack in its .bss and calls start_kernel; start_kernel
   ends the run through isa-debug-exit. */
        .section .head.text, "ax"
        .code64
        .globl _start
_start:
        mov %cr3, %rax
        and $-4096, %rax
        lea pdpt(%rip), %rbx            /* still at the physical address: rip-relative is physical */
        or $3, %rbx                     /* present, writable */
        mov %rbx, 511*8(%rax)
        lea pd(%rip), %rbx
        or $3, %rbx
        mov %rbx, pdpt+510*8(%rip)
        movq $0x000083, pd+8*8(%rip)    /* present, writable, PS: physical 0 */
        movq $0x200083, pd+9*8(%rip)    /* physical 2 MiB */
        mov %cr3, %rax
        mov %rax, %cr3
        lea high(%rip), %rax
        mov $0xffffffff81000000, %rbx   /* virtual = physical + the kernel map's base */
        add %rbx, %rax
        jmp *%rax
high:
        lea stack_top(%rip), %rsp       /* now virtual */
        call start_kernel               /* MARK:call */
        hlt

        .bss
        .balign 4096
pdpt:   .fill 512, 8, 0
pd:     .fill 512, 8, 0
        .balign 16
stack:  .fill 16384, 1, 0
stack_top:
