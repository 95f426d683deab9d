/* A Multiboot kernel in protected mode with a keyboard interrupt driver: its own IDT with
   IRQ 1 at vector 0x21, the 8259 PICs initialized (vectors 0x20 and 0x28, all masked but
   IRQ 1), the i8042's command byte read and written back with IRQ 1 enabled, then "ready\n" on
   COM1 and hlt with interrupts on. Each IRQ 1 with a byte in the output buffer (status bit 0)
   reads it from port 0x60 and prints it in hex with a space on COM1 (and at the top of the
   screen); the Escape key's break code (0x81)
   ends the run through isa-debug-exit with 0x10. */
#include "../include/multiboot.inc"
#include "../include/pic-init.inc"
        .text
        multiboot1_header 0x00000000
        .code32
        .globl _start
_start:
        mov $stack_top, %esp
        mov $irq1, %eax
        mov $(idt + 0x21 * 8), %edi
        mov %ax, (%edi)
        movw %cs, 2(%edi)
        movw $0x8e00, 4(%edi)
        shr $16, %eax
        mov %ax, 6(%edi)
        lidt idtr
        pic_init 0xfd                    /* only IRQ 1 */
        mov $0x20, %al                  /* i8042: read the command byte */
        out %al, $0x64
        in $0x60, %al
        or $0x01, %al                   /* keyboard interrupt on */
        mov %al, %bl
        mov $0x60, %al
        out %al, $0x64
        mov %bl, %al
        out %al, $0x60
        mov $ready, %esi
        call puts
        sti
1:      hlt
        jmp 1b

irq1:   push %eax
        push %edx
        push %edi
        in $0x64, %al                   /* a byte waiting? (an edge latched before sti: none) */
        test $1, %al
        jz 2f
        in $0x60, %al
        mov %al, %ah
        shr $4, %al
        call hexdigit
        mov %ah, %al
        call hexdigit
        mov $' ', %al
        call putc
        cmp $0x81, %ah
        jne 2f
        mov $'\n', %al                 /* the line ends on COM1 only: on a text */
        mov $0x3f8, %dx                 /* screen a raw 0x0A is the glyph ◙ */
        out %al, %dx
        mov $0x10, %al
        out %al, $0xf4
2:      mov $0x20, %al                  /* EOI */
        out %al, $0x20
        pop %edi
        pop %edx
        pop %eax
#ifndef NO_IRET32
        iret
#else
        pushl 8(%esp)                   /* the same return without iret, for hosts whose */
        popf                            /* ring-0 emulator can't run a 32-bit one: EFLAGS, */
        ret $8                          /* then EIP, dropping CS and EFLAGS (CS unchanged) */
#endif

/* The low nibble of AL as a hex digit on COM1 and the screen. */
hexdigit:
        and $0x0f, %al
        add $'0', %al
        cmp $'9', %al
        jbe putc
        add $('a' - '0' - 10), %al
putc:   mov $0x3f8, %dx
        out %al, %dx
        mov screenpos, %edi
        mov %al, (%edi)
        movb $0x0f, 1(%edi)
        addl $2, screenpos
        ret

puts:   lodsb
        test %al, %al
        jz 3f
        mov $0x3f8, %dx
        out %al, %dx
        jmp puts
3:      ret

ready:  .asciz "ready\n"
        .data
screenpos: .long 0xb8000
idtr:   .short 256 * 8 - 1
        .long idt
        .bss
        .balign 16
idt:    .space 256 * 8
        .space 4096
stack_top:
