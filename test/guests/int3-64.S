/* A long-mode guest with its own IDT whose #BP handler prints "int3 handled", then returns;
   the guest prints "back" and exits with 0x11. */
#include "include/idt64.inc"
#include "include/com1-puts.inc"
        .code64
        .globl _start
_start: lea handler(%rip), %rax
        mov %ax, idt+3*16           /* offset 15:0 */
        movw $0x08, idt+3*16+2      /* our 64-bit code selector */
        movw $0x8e00, idt+3*16+4    /* present, DPL0, interrupt gate */
        shr $16, %rax
        mov %ax, idt+3*16+6         /* offset 31:16 */
        shr $16, %rax
        mov %eax, idt+3*16+8        /* offset 63:32 */
        lidt idtr(%rip)
        mov $0x7000, %rsp
        .globl guest_int3
guest_int3:
        int3
        .globl after_int3
after_int3:
        lea back(%rip), %rsi
        call puts
        mov $0x11, %al
        out %al, $0xf4
        hlt
        .globl handler
handler:
        push %rsi
        lea msg(%rip), %rsi
        call puts
        incl hits(%rip)
        pop %rsi
        iretq
puts:   com1_puts
        ret
msg:    .asciz "int3 handled\n"
back:   .asciz "back\n"
        .balign 8
        .globl hits
hits:   .long 0
        idt64_table
