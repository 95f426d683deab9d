#!/bin/sh
# Builds the adapter's test guest into $1 (kernel.elf with DWARF, kernel.img to run): the
# example's boot code (real -> protected -> long mode) with this directory's kernel.c, compiled
# with the optimization level $2 (default -O0).
set -e
here=$(dirname "$0")
boot=$here/../../../examples
out=$1
opt=${2:--O0}
mkdir -p "$out"
gcc -m64 -g -c -o "$out/boot.o" "$boot/boot.S"
gcc -m64 -ffreestanding -fno-pic -mno-red-zone -mgeneral-regs-only $opt -g -nostdlib \
    -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables -c -o "$out/kernel.o" "$here/kernel.c"
ld -m elf_x86_64 -nostdlib -static -T "$boot/kernel.ld" --no-warn-rwx-segments \
    -o "$out/kernel.elf" "$out/boot.o" "$out/kernel.o"
objcopy -O binary "$out/kernel.elf" "$out/kernel.img"
