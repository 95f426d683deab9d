/* Long mode, halted with interrupts on until COM1 has input: the UART's receive interrupt
   (IRQ 4 through the PIC, remapped to vector 36) echoes each byte back to COM1. For the tests
   of a breakpoint on that hlt: continuing from it waits for input, and must not freeze the
   monitor (a pause answers; input typed later wakes it). */
#include "include/pic-init.inc"
#include "include/idt64.inc"
        .code64
        .globl _start
_start: mov $0x7000, %rsp
        idt_gate64 36, handler
        lidt idtr(%rip)
        pic_init 0xef                    /* only IRQ 4 */
        mov $0x3f9, %dx                  /* IER: received data available */
        mov $0x01, %al
        out %al, %dx
        mov $0x3fc, %dx                  /* MCR: DTR, RTS, OUT2 */
        mov $0x0b, %al
        out %al, %dx
        sti
        .globl wait
wait:   hlt
        jmp wait
        .globl handler
handler:
        push %rax
        push %rdx
        mov $0x3f8, %dx                  /* RBR */
        in %dx, %al
        .globl echo
echo:   out %al, %dx                     /* THR: echo */
        mov $0x20, %al
        out %al, $0x20
        pop %rdx
        pop %rax
        iretq
        idt64_table
