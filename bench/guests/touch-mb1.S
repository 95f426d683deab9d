/* Guest RAM bench (bench/guest-ram.ts): a Multiboot 1 kernel that writes one byte in every 4 KiB
   page from 16 MiB up to 16 MiB + 1 GiB, fresh memory that the host backs on first touch, prints
   "touched" through COM1 and exits through isa-debug-exit with 0x2a. Protected mode, no paging:
   the time is the host's (KVM's nested-paging faults), not the guest's. */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .code32
        .text
        /* The header first in .text: QEMU looks for it in the file's first 8 KiB. */
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
        .globl _start
_start:
        mov $0x1000000, %edi
        mov $0x41000000, %ecx
1:      movb $1, (%edi)
        add $4096, %edi
        cmp %ecx, %edi
        jb 1b
        mov $msg, %esi
        mov $0x3f8, %dx
2:      lodsb
        test %al, %al
        jz 3f
        out %al, %dx
        jmp 2b
3:      mov $0x2a, %al
        out %al, $0xf4
        hlt
        .section .rodata
msg:    .asciz "touched\n"
