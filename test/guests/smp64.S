/* The BSP starts the AP with INIT-SIPI-SIPI through its LAPIC (0xFEE00300, identity-mapped by
   kvmdbg's long-mode entry). The AP begins in real mode at 0x8000 (SIPI vector 8), where the
   BSP copied `trampoline`; it sets a flag the BSP waits for and parks with sti; hlt. */
        .code64
        .globl _start
_start: lea trampoline(%rip), %rsi
        mov $0x8000, %rdi
        mov $(trampoline_end - trampoline), %ecx
        rep movsb
        mov $0xfee00000, %rbx
        movl $0x000c4500, 0x300(%rbx)   /* INIT to all excluding self */
        movl $0x000c4608, 0x300(%rbx)   /* SIPI, vector 8 -> 0x8000 */
        movl $0x000c4608, 0x300(%rbx)   /* and again, as the protocol says */
1:      cmpb $0, 0x9000
        je 1b
        mov $0x3f8, %dx
        mov $'B', %al
        out %al, %dx
        mov $'\n', %al
        out %al, %dx
        mov $0x22, %al
        out %al, $0xf4
        hlt
        .code16
trampoline:
        xor %ax, %ax
        mov %ax, %ds
        mov $0x3f8, %dx
        mov $'A', %al
        out %al, %dx
        movb $1, 0x9000
        .globl ap_park
2:      sti
        hlt
        jmp 2b
trampoline_end:
