#!/usr/bin/env bash
# Runs the guest tests on a machine that has a /dev/kvm but none of node, npm, the node_modules
# or busybox (a bare, throwaway machine lent for a check, say). Here, where they are installed,
# `pack` puts them into .kit/ (about 40 MB, compressed; git ignores it); copy the checkout with
# .kit/ there, and `run` unpacks them and runs the test files that need KVM (or those named)
# directly on its /dev/kvm (scripts/run-tests.sh), the log in .kit/log; `exec` runs any command
# with them (a bench, say).
#   scripts/kvm-kit.sh pack
#   scripts/kvm-kit.sh run [FILE...]
#   scripts/kvm-kit.sh exec CMD [ARG...]   e.g. exec node --import tsx bench/record.ts 3
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.kit
# What the guest tests load at run time: tsx (and its esbuild), the monitor's and the adapter's
# dependencies, and the DAP test client. The build (npm run build, which tests call) needs esbuild.
MODULES=(tsx esbuild @esbuild koffi @koromix iced-x86 @vscode/debugadapter @vscode/debugprotocol
  @vscode/debugadapter-testsupport .bin/tsx .bin/esbuild)

pack() {
  [ -d node_modules/tsx ] || { echo "kvm-kit: no node_modules here: run npm ci first" >&2; exit 2; }
  local npm_dir
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  [ -f "$npm_dir/bin/npm-cli.js" ] || { echo "kvm-kit: npm's own folder not found (looked in $npm_dir)" >&2; exit 2; }
  rm -rf "$KIT" && mkdir -p "$KIT"
  xz -T0 -6 < "$(readlink -f "$(command -v node)")" > "$KIT/node.xz"
  tar -cJf "$KIT/modules.tar.xz" "${MODULES[@]/#/node_modules/}"
  tar -cJf "$KIT/npm.tar.xz" -C "$(dirname "$npm_dir")" "$(basename "$npm_dir")"
  # The Linux tests' initramfs needs a static busybox at /bin/busybox, and Debian's kernel with
  # one of its modules (test/support/linux.ts): the test VM's copies, where they are.
  [ -x /bin/busybox ] && xz -6 < /bin/busybox > "$KIT/busybox.xz"
  if [ -f .testvm/vmlinuz ]; then
    cp .testvm/vmlinuz .testvm/initramfs/lib/modules/irqbypass.ko "$KIT/"
  fi
  du -sh "$KIT"
}

unpack() {
  [ -f "$KIT/node.xz" ] || { echo "kvm-kit: no $KIT/node.xz: run scripts/kvm-kit.sh pack where node is installed" >&2; exit 2; }
  mkdir -p "$KIT/bin"
  xz -dc "$KIT/node.xz" > "$KIT/bin/node" && chmod +x "$KIT/bin/node"
  [ -d node_modules/tsx ] || tar -xJf "$KIT/modules.tar.xz"
  tar -xJf "$KIT/npm.tar.xz" -C "$KIT" && ln -sf "$PWD/$KIT/npm/bin/npm-cli.js" "$KIT/bin/npm"
  export PATH="$PWD/$KIT/bin:$PATH"
  if [ -f "$KIT/busybox.xz" ] && [ ! -x /bin/busybox ]; then
    if [ -w /bin ]; then xz -dc "$KIT/busybox.xz" > /bin/busybox && chmod +x /bin/busybox
    else echo "kvm-kit: /bin is not writable: the Linux tests will say that /bin/busybox is missing" >&2; fi
  fi
  if [ -f "$KIT/vmlinuz" ] && [ ! -f .testvm/vmlinuz ]; then
    mkdir -p .testvm/initramfs/lib/modules
    cp "$KIT/vmlinuz" .testvm/vmlinuz && cp "$KIT/irqbypass.ko" .testvm/initramfs/lib/modules/
  fi
  echo "kvm-kit: node $(node --version), npm $(npm --version); /dev/kvm: $(ls -l /dev/kvm 2>&1)"
}

run() {
  unpack
  local files=("$@")
  ((${#files[@]})) || mapfile -t files < <(grep -lE "^import '\./support/needs-kvm\.js';" test/*.test.ts)
  bash scripts/run-tests.sh "${files[@]}" 2>&1 | tee "$KIT/log"
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  exec) shift; unpack; "$@" ;;
  *) echo "usage: scripts/kvm-kit.sh pack | run [FILE...] | exec CMD [ARG...]" >&2; exit 2 ;;
esac
