/* A fake Linux bzImage for the bzImage loader tests (test/bzimage.test.ts): a setup area of
   (SETUP_SECTS + 1) * 512 bytes with a protocol 2.15 setup header at 0x1F1, then a small
   32-bit protected-mode "kernel" that runs at 1 MiB (code32_start). Assembled as one section
   linked at 0 and flattened, so file offset = section offset; the kernel part refers to its own
   data through KADDR(), its address at run time.

   The kernel checks the 32-bit boot protocol's entry state (EBX = EBP = EDI = 0, CS = 0x10,
   DS = ES = SS = 0x18, CR0.PE on and PG off, interrupts off, EIP = where it was loaded,
   type_of_loader 0xFF, CAN_USE_HEAP set), then prints from the zero page at ESI:
     cmdline [<the command line>]
     initrd <ramdisk_size, 8 hex digits> [<its first bytes, up to 16>]   or   initrd none
     e820 <count, 2 hex digits>
     <base 16 hex> <length 16 hex> <type 8 hex>     one line per entry
     bzimage ok
   and exits through port 0xF4 with 0x2a. A failed check prints "bad <what>" and exits with its
   own value (0x10 + n). */
        .set SETUP_SECTS, 4
        .set KBASE, 0x100000
        .set INIT_SIZE, 0x20000
#define KADDR(x) (KBASE + ((x) - kernel_start))
#define COM1 0x3f8

        .text
        .code16
        .globl _start
_start:
        cli
        hlt
        jmp _start

        .org 0x1f1
        .globl hdr
hdr:
setup_sects:    .byte SETUP_SECTS
root_flags:     .word 0
syssize:        .long (kernel_end - kernel_start + 15) / 16
ram_size:       .word 0
vid_mode:       .word 0xffff
root_dev:       .word 0
boot_flag:      .word 0xaa55
        .org 0x200
jump:           .byte 0xeb, start_of_setup - 1f
1:              .ascii "HdrS"
version:        .word 0x020f
realmode_swtch: .long 0
start_sys_seg:  .word 0x1000
kernel_version: .word kver - 0x200
type_of_loader: .byte 0
loadflags:      .byte 0x01                  /* LOADED_HIGH */
setup_move_size: .word 0x8000
code32_start:   .long KBASE
ramdisk_image:  .long 0
ramdisk_size:   .long 0
bootsect_kludge: .long 0
heap_end_ptr:   .word 0
ext_loader_ver: .byte 0
ext_loader_type: .byte 0
cmd_line_ptr:   .long 0
initrd_addr_max: .long 0x7fffffff
kernel_alignment: .long 0x200000
relocatable_kernel: .byte 0
min_alignment:  .byte 21
xloadflags:     .word 0
cmdline_size:   .long 2047
hardware_subarch: .long 0
hardware_subarch_data: .quad 0
payload_offset: .long 0
payload_length: .long 0
setup_data:     .quad 0
pref_address:   .quad KBASE
init_size:      .long INIT_SIZE
handover_offset: .long 0
kernel_info_offset: .long 0
start_of_setup:
        /* The 16-bit setup code a BIOS boot would run; the 32-bit boot protocol skips it. */
        cli
        hlt
        jmp start_of_setup
kver:   .asciz "0.0.0-fake (kvmdbg bzImage test)"

        .org (SETUP_SECTS + 1) * 512
        .code32
        .globl kernel_start
kernel_start:
        /* Entry state, before anything is touched. */
        test %ebx, %ebx
        jnz bad_regs
        test %ebp, %ebp
        jnz bad_regs
        test %edi, %edi
        jnz bad_regs
        mov %cs, %ax
        cmp $0x10, %ax
        jne bad_segs
        mov %ds, %ax
        cmp $0x18, %ax
        jne bad_segs
        mov %es, %ax
        cmp $0x18, %ax
        jne bad_segs
        mov %ss, %ax
        cmp $0x18, %ax
        jne bad_segs
        mov %cr0, %eax
        test $1, %eax
        jz bad_cr0
        test $0x80000000, %eax
        jnz bad_cr0
        mov $KADDR(stack_top), %esp
        pushf
        pop %eax
        test $0x200, %eax
        jnz bad_if
        call 1f
1:      pop %eax
        cmp $KADDR(1b), %eax
        jne bad_eip
        cmpb $0xff, 0x210(%esi)         /* type_of_loader */
        jne bad_loader
        testb $0x80, 0x211(%esi)        /* loadflags: CAN_USE_HEAP */
        jz bad_loader

        mov $KADDR(s_cmdline), %ebx
        call puts
        mov 0x228(%esi), %ebx           /* cmd_line_ptr */
        call puts
        mov $KADDR(s_close), %ebx
        call puts

        mov $KADDR(s_initrd), %ebx
        call puts
        mov 0x21c(%esi), %eax           /* ramdisk_size */
        test %eax, %eax
        jz no_initrd
        mov $8, %ecx
        call puthex
        mov $0x20, %al
        call putc
        mov $0x5b, %al
        call putc
        mov 0x218(%esi), %ebx           /* ramdisk_image */
        mov 0x21c(%esi), %ecx
        cmp $16, %ecx
        jbe 2f
        mov $16, %ecx
2:      mov (%ebx), %al
        call putc
        inc %ebx
        loop 2b
        mov $KADDR(s_close), %ebx
        call puts
        jmp e820
no_initrd:
        mov $KADDR(s_none), %ebx
        call puts

e820:   mov $KADDR(s_e820), %ebx
        call puts
        movzbl 0x1e8(%esi), %eax        /* e820_entries */
        mov $2, %ecx
        call puthex
        mov $0x0a, %al
        call putc
        movzbl 0x1e8(%esi), %edi
        lea 0x2d0(%esi), %ebx           /* e820_table */
3:      test %edi, %edi
        jz 4f
        mov 4(%ebx), %eax               /* addr, high half first */
        mov $8, %ecx
        call puthex
        mov 0(%ebx), %eax
        call puthex
        mov $0x20, %al
        call putc
        mov 12(%ebx), %eax              /* size */
        call puthex
        mov 8(%ebx), %eax
        call puthex
        mov $0x20, %al
        call putc
        mov 16(%ebx), %eax              /* type */
        call puthex
        mov $0x0a, %al
        call putc
        add $20, %ebx
        dec %edi
        jmp 3b
4:      mov $KADDR(s_ok), %ebx
        call puts
        mov $0x2a, %al
        out %al, $0xf4
        hlt

bad_regs:   mov $KADDR(s_regs), %ebx
            mov $0x11, %dl
            jmp bad
bad_segs:   mov $KADDR(s_segs), %ebx
            mov $0x12, %dl
            jmp bad
bad_cr0:    mov $KADDR(s_cr0), %ebx
            mov $0x13, %dl
            jmp bad
bad_if:     mov $KADDR(s_if), %ebx
            mov $0x14, %dl
            jmp bad
bad_eip:    mov $KADDR(s_eip), %ebx
            mov $0x15, %dl
            jmp bad
bad_loader: mov $KADDR(s_loader), %ebx
            mov $0x16, %dl
            jmp bad
/* Prints "bad <what>" with no stack (it may be the stack that is wrong), exits with DL. */
bad:    mov %dl, %cl
        mov $COM1, %dx
        mov $0x62, %al
        out %al, %dx
        mov $0x61, %al
        out %al, %dx
        mov $0x64, %al
        out %al, %dx
        mov $0x20, %al
        out %al, %dx
5:      mov (%ebx), %al
        test %al, %al
        jz 6f
        out %al, %dx
        inc %ebx
        jmp 5b
6:      mov %cl, %al
        out %al, $0xf4
        hlt

/* putc: AL to COM1. */
putc:   push %edx
        mov $COM1, %dx
        out %al, %dx
        pop %edx
        ret
/* puts: the NUL-terminated string at EBX (EBX is left past it). */
puts:   push %eax
7:      mov (%ebx), %al
        test %al, %al
        jz 8f
        call putc
        inc %ebx
        jmp 7b
8:      pop %eax
        ret
/* puthex: the low ECX hex digits of EAX. */
puthex: push %eax
        push %ecx
        push %edx
        mov %eax, %edx
9:      dec %ecx
        js 11f
        push %ecx
        mov %edx, %eax
        shl $2, %ecx
        shr %cl, %eax
        and $0xf, %eax
        cmp $10, %al
        jb 10f
        add $39, %al
10:     add $0x30, %al
        call putc
        pop %ecx
        jmp 9b
11:     pop %edx
        pop %ecx
        pop %eax
        ret

s_cmdline: .asciz "cmdline ["
s_close:   .asciz "]\n"
s_initrd:  .asciz "initrd "
s_none:    .asciz "none\n"
s_e820:    .asciz "e820 "
s_ok:      .asciz "bzimage ok\n"
s_regs:    .asciz "regs\n"
s_segs:    .asciz "segments\n"
s_cr0:     .asciz "cr0\n"
s_if:      .asciz "if\n"
s_eip:     .asciz "eip\n"
s_loader:  .asciz "loader\n"
        .balign 16
stack:  .skip 256
stack_top:
        .globl kernel_end
kernel_end:
