/*
 * kvmdbg example guest: boot code.
 *
 * Entered like a BIOS boot sector: 16-bit real mode, CS:IP = 0000:7C00, DL = boot drive (0x80).
 * kvmdbg has no BIOS and loads the whole image at 0x7C00; a real BIOS (QEMU's SeaBIOS) loads only
 * the first sector, so the first sector checks for a magic word at the very end of the image and
 * only if it is missing reads the rest with int 13h AH=42h. That is the only BIOS call here, and
 * it never runs under kvmdbg.
 *
 * Then: real mode (UART init, print) -> 32-bit protected mode (print, build page tables) ->
 * 64-bit long mode (print) -> kmain() in kernel.c.
 *
 * Everything is assembled as one x86-64 ELF object; .code16/.code32/.code64 select the mode.
 */

#define COM1            0x3f8
#define STACK_TOP       0x90000
#define IMAGE_MAGIC     0x444d564b      /* "KVMD", little-endian; see kernel.ld */

#define SEL_CODE32      0x08
#define SEL_DATA        0x10
#define SEL_CODE64      0x18

#define MSR_EFER        0xc0000080
#define EFER_LME        (1 << 8)
#define CR0_PE          (1 << 0)
#define CR0_PG          (1 << 31)
#define CR4_PAE         (1 << 5)

/* ------------------------------------------------------------------------------------------- */
/* First sector: 16-bit real mode.  kernel.ld pads it and puts 55 AA at offsets 510-511.        */
/* ------------------------------------------------------------------------------------------- */
        .section .boot, "ax"
        .code16
        .globl _start
_start:
        cli
        cld
        ljmp    $0, $real_mode_start    /* some BIOSes enter at 07C0:0000; make CS = 0 */

real_mode_start:
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x7c00, %sp            /* below the boot image, as a BIOS would leave it */
        mov     %dl, boot_drive

        call    uart_init16

        /* Is the whole image already in memory (kvmdbg)?  Check the magic in its last 4 bytes. */
        mov     $image_magic_seg, %ax
        mov     %ax, %es
        mov     $image_magic_off, %bx
        cmpl    $IMAGE_MAGIC, %es:(%bx)
        je      image_present

load_rest:
        /* Only under a real BIOS: read sectors 1.. of the boot disk to 0x7E00 (LBA packet). */
        mov     $image_sectors, %ax
        dec     %ax
        jz      image_loaded            /* one sector only: nothing more to read */
        mov     %ax, dap_count
        mov     $dap, %si
        mov     boot_drive, %dl
        mov     $0x42, %ah
        sti                             /* the BIOS disk code may want its timer interrupt */
        int     $0x13
        cli
        jc      load_failed
image_loaded:
        mov     $image_magic_seg, %ax   /* the BIOS may have changed ES:BX */
        mov     %ax, %es
        mov     $image_magic_off, %bx
        cmpl    $IMAGE_MAGIC, %es:(%bx)
        jne     load_failed

image_present:
        xor     %ax, %ax
        mov     %ax, %es
        mov     $msg_real, %si
        call    puts16

        /* A20: use port 0x92 only if it says A20 is off (kvmdbg: port unassigned, reads 0xFF). */
        in      $0x92, %al
        test    $0x02, %al
        jnz     a20_on
        or      $0x02, %al
        and     $0xfe, %al              /* never set bit 0: that resets the machine */
        out     %al, $0x92
a20_on:
        lgdtl   gdt_descriptor
        mov     %cr0, %eax
        or      $CR0_PE, %eax
        mov     %eax, %cr0
        ljmpl   $SEL_CODE32, $protected_mode_entry

load_failed:
        xor     %ax, %ax
        mov     %ax, %es
        mov     $msg_load_failed, %si
        call    puts16
halt16:
        cli
        hlt
        jmp     halt16

/* Program COM1: no interrupts, 115200 baud (divisor 1), 8N1, FIFOs on, DTR+RTS. */
uart_init16:
        mov     $COM1 + 1, %dx          /* IER: all interrupts off */
        xor     %al, %al
        out     %al, %dx
        mov     $COM1 + 3, %dx          /* LCR: DLAB = 1 */
        mov     $0x80, %al
        out     %al, %dx
        mov     $COM1 + 0, %dx          /* DLL = 1 */
        mov     $0x01, %al
        out     %al, %dx
        mov     $COM1 + 1, %dx          /* DLM = 0 */
        xor     %al, %al
        out     %al, %dx
        mov     $COM1 + 3, %dx          /* LCR: 8 data bits, no parity, 1 stop bit, DLAB = 0 */
        mov     $0x03, %al
        out     %al, %dx
        mov     $COM1 + 2, %dx          /* FCR: enable + clear FIFOs, 14-byte trigger */
        mov     $0xc7, %al
        out     %al, %dx
        mov     $COM1 + 4, %dx          /* MCR: DTR | RTS (OUT2 off: no IRQ) */
        mov     $0x03, %al
        out     %al, %dx
        ret

/* Write the NUL-terminated string at DS:SI to COM1, polling LSR.THRE (bit 5) per byte. */
puts16:
        lodsb
        test    %al, %al
        jz      2f
        mov     %al, %ah
        mov     $COM1 + 5, %dx
1:      in      %dx, %al
        test    $0x20, %al
        jz      1b
        mov     $COM1, %dx
        mov     %ah, %al
        out     %al, %dx
        jmp     puts16
2:      ret

msg_real:
        .asciz  "kvmdbg example: real mode\n"
msg_load_failed:
        .asciz  "kvmdbg example: cannot read the rest of the image from disk\n"

boot_drive:
        .byte   0x80

        .balign 4
dap:                                    /* int 13h AH=42h disk address packet */
        .byte   0x10, 0                 /* size, reserved */
dap_count:
        .word   0                       /* sectors to read (at most 127) */
        .word   0x0000, 0x07e0          /* buffer offset, segment: 07E0:0000 = 0x7E00 */
        .quad   1                       /* first LBA: the sector after this one */

        .balign 8
gdt:
        .quad   0x0000000000000000      /* null */
        .quad   0x00cf9a000000ffff      /* 0x08: 32-bit code, base 0, limit 4 GiB */
        .quad   0x00cf92000000ffff      /* 0x10: data, base 0, limit 4 GiB */
        .quad   0x00af9a000000ffff      /* 0x18: 64-bit code (L = 1) */
gdt_end:
gdt_descriptor:
        .word   gdt_end - gdt - 1
        .long   gdt

/* ------------------------------------------------------------------------------------------- */
/* 32-bit protected mode (placed right after the boot sector).                                  */
/* ------------------------------------------------------------------------------------------- */
        .section .text.stage2, "ax"
        .code32
protected_mode_entry:
        mov     $SEL_DATA, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %fs
        mov     %ax, %gs
        mov     %ax, %ss
        mov     $STACK_TOP, %esp

        mov     $msg_protected, %esi
        call    puts32

        /* Zero .bss (it holds the page tables). */
        mov     $__bss_start, %edi
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        shr     $2, %ecx
        xor     %eax, %eax
        rep stosl

        /* Identity map the first 1 GiB with 2 MiB pages: PML4[0] -> PDPT[0] -> PD[0..511]. */
        movl    $pdpt + 0x3, pml4       /* present | writable */
        movl    $pd + 0x3, pdpt
        mov     $pd, %edi
        mov     $0x83, %eax             /* present | writable | page size (2 MiB) */
        mov     $512, %ecx
1:      mov     %eax, (%edi)
        movl    $0, 4(%edi)
        add     $0x200000, %eax
        add     $8, %edi
        loop    1b

        mov     %cr4, %eax              /* PAE */
        or      $CR4_PAE, %eax
        mov     %eax, %cr4
        mov     $pml4, %eax
        mov     %eax, %cr3
        mov     $MSR_EFER, %ecx         /* EFER.LME */
        rdmsr
        or      $EFER_LME, %eax
        wrmsr
        mov     %cr0, %eax              /* paging on: long mode becomes active */
        or      $CR0_PG, %eax
        mov     %eax, %cr0
        ljmp    $SEL_CODE64, $long_mode_entry

/* Write the NUL-terminated string at ESI to COM1. */
puts32:
        lodsb
        test    %al, %al
        jz      2f
        mov     %al, %ah
        mov     $COM1 + 5, %dx
1:      in      %dx, %al
        test    $0x20, %al
        jz      1b
        mov     $COM1, %dx
        mov     %ah, %al
        out     %al, %dx
        jmp     puts32
2:      ret

/* ------------------------------------------------------------------------------------------- */
/* 64-bit long mode.                                                                             */
/* ------------------------------------------------------------------------------------------- */
        .code64
long_mode_entry:
        mov     $SEL_DATA, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %fs
        mov     %ax, %gs
        mov     %ax, %ss
        mov     $STACK_TOP, %rsp        /* 16-byte aligned before the call, as the ABI wants */

        lea     msg_long(%rip), %rsi
        call    puts64

        call    kmain                   /* does not return: it writes the debug-exit port */
halt64:
        cli
        hlt
        jmp     halt64

/* Write the NUL-terminated string at RSI to COM1. */
puts64:
        lodsb
        test    %al, %al
        jz      2f
        mov     %al, %ah
        mov     $COM1 + 5, %dx
1:      in      %dx, %al
        test    $0x20, %al
        jz      1b
        mov     $COM1, %dx
        mov     %ah, %al
        out     %al, %dx
        jmp     puts64
2:      ret

        .section .rodata
msg_protected:
        .asciz  "kvmdbg example: protected mode\n"
msg_long:
        .asciz  "kvmdbg example: long mode\n"

/* Page tables: in .bss (not part of the image), zeroed above before use. */
        .section .bss
        .balign 4096
        .globl pml4, pdpt, pd
pml4:   .skip   4096
pdpt:   .skip   4096
pd:     .skip   4096

        .section .note.GNU-stack, "", @progbits
