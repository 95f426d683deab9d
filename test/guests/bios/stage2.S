/* A boot sector that loads the rest of its (floppy) image through int 13h and runs it: stage 2
   at sector 17 (C0 H0 S18, then across the track to head 1) with AH=02h, which loads stage 3
   at sector 35 (C0 H1 S18, across the cylinder to C1 H0) with an AH=42h packet. Each stage
   checks the magic at the end of what it read, prints on COM1 and on the screen (teletype).
   Exits 0x13, or 0x7f when a read failed (with the status on COM1). */
#include "../include/real-mode-start.inc"
#include "serial.inc"
#define STAGE2_LBA 17
#define STAGE3_LBA 35
        real_mode_start
        mov %ax, %es
        mov %ax, %ss
        mov $0x7c00, %sp
        mov %dl, drive
        mov $0x0203, %ax        /* 3 sectors */
        mov $0x0012, %cx        /* cylinder 0, sector 18 */
        xor %dh, %dh            /* head 0 */
        mov drive, %dl
        mov $stage2, %bx
        int $0x13
        jc fail
        cmp $3, %al
        jne fail
        cmpl $0x32474b53, stage2_magic   /* "SKG2" */
        jne fail
        jmp stage2
fail:   push %ax
        mov $failed, %si
        call puts
        pop %ax
        call puthex16
        mov $0x7f, %al
        out %al, $0xf4
        hlt
say:    /* SI to COM1 and the screen */
        push %si
        call puts
        pop %si
1:      lodsb
        test %al, %al
        jz 2f
        mov $0x0e, %ah
        xor %bx, %bx
        int $0x10
        jmp 1b
2:      ret
        serial_routines
drive:  .byte 0
failed: .asciz "read failed: AX="
        .org 510
        .byte 0x55, 0xaa

        .org STAGE2_LBA * 512
stage2: mov $hello2, %si
        call say
        movw $0x10, dap
        movw $3, dap + 2
        movw $stage3, dap + 4
        movw $0, dap + 6
        movl $STAGE3_LBA, dap + 8
        movl $0, dap + 12
        mov $dap, %si
        mov $0x42, %ah
        mov drive, %dl
        int $0x13
        jc fail
        cmpw $3, dap + 2
        jne fail
        cmpl $0x33474b53, stage3_magic   /* "SKG3" */
        jne fail
        jmp stage3
hello2: .asciz "stage 2 (CHS) ok\r\n"
        .balign 4
dap:    .fill 16
        .org (STAGE2_LBA + 3) * 512 - 4
stage2_magic: .ascii "SKG2"

        .org STAGE3_LBA * 512
stage3: mov $hello3, %si
        call say
        mov $0x13, %al
        out %al, $0xf4
        hlt
hello3: .asciz "stage 3 (LBA) ok\r\n"
        .org (STAGE3_LBA + 3) * 512 - 4
stage3_magic: .ascii "SKG3"
