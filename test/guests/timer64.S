/* Long mode with the PIT firing IRQ0 often (through the PIC, remapped to vector 32): a handler
   counts ticks while the main loop counts in RBX. For stepping tests: a step must never stop
   inside the handler. */
#include "include/pic-init.inc"
#include "include/idt64.inc"
        .code64
        .globl _start
_start: mov $0x7000, %rsp
        idt_gate64 32, handler
        lidt idtr(%rip)
        pic_init 0xfe                    /* only IRQ 0 */
        /* PIT channel 0, mode 2, divisor 600: about 2 kHz */
        mov $0x34, %al
        out %al, $0x43
        mov $0x58, %al
        out %al, $0x40
        mov $0x02, %al
        out %al, $0x40
        xor %ebx, %ebx
        sti
        .globl loop
loop:   inc %rbx
        .globl loop2
loop2:  nop
        .globl loop3
loop3:  jmp loop
        .globl handler
handler:
        incq ticks(%rip)
        push %rax
        mov $0x20, %al
        out %al, $0x20
        pop %rax
        iretq
        .balign 8
        .globl ticks
ticks:  .quad 0
        idt64_table
