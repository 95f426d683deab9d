/* A Multiboot kernel in protected mode that uses the VGA text screen as a kernel's console does:
   clears it to grey on black, prints "line 00" to "line 29" scrolling the screen up a row for
   each line past the 25th, writes "Hello, screen" in white on blue over row 0 and the code page
   437 box-drawing characters C9 CD BB in yellow on red at row 1, column 10, moves the cursor to
   row 24, column 7 (offset 0x787) through the CRTC at 0x3D4/0x3D5, waits for a vertical retrace
   on 0x3DA, and exits through isa-debug-exit with 0x10 at `done`. */
#include "../include/multiboot.inc"
        .text
        multiboot1_header 0x00000000
        .code32
        .globl _start
_start:
        mov $stack_top, %esp
        mov $0xb8000, %edi
        mov $0x0720, %ax
        mov $2000, %ecx
        rep stosw
        xor %ebx, %ebx                  /* line number */
        xor %ebp, %ebp                  /* row */
1:      cmp $25, %ebp
        jb 2f
        call scroll
        mov $24, %ebp
2:      imul $160, %ebp, %edi
        add $0xb8000, %edi
        mov $linemsg, %esi
        mov $0x07, %ah
        call putstr
        mov %ebx, %eax
        mov $10, %cl
        div %cl                         /* AL tens, AH ones */
        mov %ah, %dl
        add $'0', %al
        mov $0x07, %ah
        stosw
        mov %dl, %al
        add $'0', %al
        stosw
        inc %ebp
        inc %ebx
        cmp $30, %ebx
        jb 1b
        mov $0xb8000, %edi
        mov $hello, %esi
        mov $0x1f, %ah
        call putstr
        mov $(0xb8000 + 160 + 20), %edi
        mov $box, %esi
        mov $0x4e, %ah
        call putstr
        mov $0x3d4, %dx                 /* cursor location 0x787: row 24, column 7 */
        mov $0x0e, %al
        out %al, %dx
        inc %dx
        mov $0x07, %al
        out %al, %dx
        dec %dx
        mov $0x0f, %al
        out %al, %dx
        inc %dx
        mov $0x87, %al
        out %al, %dx
        mov $0x3da, %dx
3:      in %dx, %al
        test $8, %al
        jz 3b
4:      in %dx, %al
        test $8, %al
        jnz 4b
        .globl done
done:   mov $0x10, %al
        out %al, $0xf4
        hlt

/* Moves rows 1-24 up a row and blanks row 24. */
scroll: mov $(0xb8000 + 160), %esi
        mov $0xb8000, %edi
        mov $(24 * 80), %ecx
        rep movsw
        mov $0x0720, %ax
        mov $80, %ecx
        rep stosw
        ret

/* The NUL-terminated string at ESI to EDI with attribute AH. */
putstr: lodsb
        test %al, %al
        jz 1f
        stosw
        jmp putstr
1:      ret

linemsg: .asciz "line "
hello:  .asciz "Hello, screen"
box:    .byte 0xc9, 0xcd, 0xbb, 0

        .bss
        .balign 16
        .space 4096
stack_top:
