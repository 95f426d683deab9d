/* Single steps over port output: `out` to an unassigned port, to COM1 through DX, an `in`, each
 * followed by a nop, then isa-debug-exit with 0x21. Each step must run one instruction: kvm_pvm's
 * emulator finishes an `out` before it exits and then ran the next one in the same step. */
        .code64
        .globl _start
_start: mov $'s', %al
        .globl out_imm
out_imm: out %al, $0x80
        nop
        mov $0x3f8, %dx
        .globl out_dx
out_dx: out %al, %dx
        nop
        .globl in_imm
in_imm: in $0x80, %al
        nop
        mov $0x21, %al
        .globl done
done:   out %al, $0xf4
        hlt
