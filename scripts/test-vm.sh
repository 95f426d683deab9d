#!/usr/bin/env bash
# The test VM: a throwaway QEMU guest with a real, nested /dev/kvm, for machines that have none of
# their own (a kvm_pvm guest whose kernel will not nest). QEMU 10 runs TCG with an emulated AMD CPU
# (-cpu max: SVM with NPT); Debian's kernel loads kvm_amd; the host's root file system is the VM's
# root over 9p, so the checkout, node, gcc and node_modules are the same inside and out.
#
#   scripts/test-vm.sh setup               install QEMU 10 and build .testvm/ (kernel, initramfs)
#   scripts/test-vm.sh deps                install what the guest tests need wherever they run
#   scripts/test-vm.sh run [opts] -- CMD   boot, run CMD (bash -c) in $PWD with this environment,
#                                          power off; exits with CMD's status
#       --fwd HOSTPORT:GUESTPORT           forward 127.0.0.1:HOSTPORT to the VM's GUESTPORT
#   scripts/test-vm.sh kvm -- CMD          CMD directly where /dev/kvm is read-write, else `run`
# Environment: KVMDBG_VM_MEM (8G), KVMDBG_VM_CPUS (2), KVMDBG_VM_TIMEOUT (3600 s, then QEMU is
# stopped and the status is 3), KVMDBG_VM_LOCK (/tmp/kvmdbg-test-vm.lock: one VM at a time here).
#
# Setup is idempotent and needs root (apt-get). The VM boots in about 15 s; one boot serves a
# whole test run. Output streams on the VM's serial console; the status comes back in a file.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VM=$ROOT/.testvm
KVER=6.1.0-57-amd64          # linux-image-amd64's kernel in bookworm; `setup` follows it if it moves
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci 9pnet 9pnet_virtio
netfs fscache 9p failover net_failover virtio_net irqbypass ccp kvm kvm-amd"
say() { printf '[test-vm] %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

have_kvm() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

apt_install() {
  local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# What the guest tests need besides QEMU, wherever they run: a static busybox (the VM's init and
# the Linux tests' initramfs) and cpio.
deps() {
  local need=()
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx switch_root || need+=(busybox-static)
  command -v cpio >/dev/null || need+=(cpio)
  if ((${#need[@]})); then say "installing ${need[*]}"; apt_install "${need[@]}"; fi
}

setup() {
  local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  # QEMU 10 from bookworm-backports: 7.2 never fires DR0-DR3 breakpoints under nested SVM.
  if ! qemu-system-x86_64 --version 2>/dev/null | grep -qE 'version (9|[1-9][0-9])\.'; then
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
      say "adding bookworm-backports to apt's sources"
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        | $sudo tee /etc/apt/sources.list.d/kvmdbg-backports.sources >/dev/null
    fi
    say "installing qemu-system-x86 from bookworm-backports"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports qemu-system-x86 >/dev/null
  fi
  deps

  local want
  want=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\([0-9].*amd64\)$/\1/p' | head -1)
  [ -n "$want" ] && KVER=$want
  # Built for this kernel, these modules and this init script, or built again.
  local stamp; stamp="$KVER $(printf '%s' "$MODULES" | cat - "$ROOT/scripts/test-vm-init" | sha1sum | cut -c1-12)"
  if [ "$(cat "$VM/.ready" 2>/dev/null)" = "$stamp" ]; then return; fi
  say "building .testvm for kernel $KVER"
  rm -rf "$VM/deb" "$VM/initramfs" "$VM/.ready" && mkdir -p "$VM/deb" "$VM/initramfs"/{bin,dev,proc,sys,newroot,lib/modules}
  (cd "$VM/deb" && apt-get download "linux-image-$KVER" 2>/dev/null && dpkg-deb -x ./*.deb x)
  cp "$VM/deb/x/boot/vmlinuz-$KVER" "$VM/vmlinuz"
  local m f
  for m in $MODULES; do
    f=$(find "$VM/deb/x/lib/modules/$KVER" -name "$m.ko*" | head -1)
    [ -n "$f" ] || die "module $m not in linux-image-$KVER"
    cp "$f" "$VM/initramfs/lib/modules/"
  done
  rm -rf "$VM/deb"
  cp /bin/busybox "$VM/initramfs/bin/busybox"
  printf '%s\n' "$MODULES" | tr ' ' '\n' > "$VM/initramfs/modules"
  cp "$ROOT/scripts/test-vm-init" "$VM/initramfs/init"
  chmod +x "$VM/initramfs/init"
  (cd "$VM/initramfs" && find . | cpio -o -H newc --quiet | gzip -1 > "$VM/initramfs.gz")
  echo "$stamp" > "$VM/.ready"
}

run() {
  local fwd=()
  while [ $# -gt 0 ]; do
    case $1 in
      --fwd) fwd+=("$2"); shift 2 ;;
      --) shift; break ;;
      *) die "unknown option $1 (see the header of $0)" ;;
    esac
  done
  [ $# -gt 0 ] || die "no command given: $0 run -- CMD"
  # One VM at a time on this machine: a second would take half of its CPUs from the first, whose
  # timing-sensitive tests would then flake. A second run waits here for the first to end.
  # The lock's path is fixed: run-tests.sh gives each checkout a TMPDIR of its own.
  exec 9>"${KVMDBG_VM_LOCK:-/tmp/kvmdbg-test-vm.lock}"
  flock -n 9 || { say "another test VM is running here; waiting for it to end"; flock 9; }
  setup
  local job; job=$(mktemp -d "$VM/job.XXXXXX")
  mkdir -p "$VM/tmp"
  # The job: the caller's environment (less what names this machine's session), its directory and
  # the command. The VM's own init sources it after switch_root.
  {
    export -p | grep -vE '^declare -x (BASH_FUNC|SHLVL|OLDPWD|_=|TERM=|SSH_|DISPLAY|XDG_|TMPDIR=)'
    # A temporary folder on the shared root: tsx's transpile cache (in it) then serves both
    # sides, and the VM's node (10-40x slower) finds what the host already compiled.
    printf 'export KVMDBG_VM=1 TMPDIR=%q\n' "$VM/tmp"
    printf 'cd %q\n' "$PWD"
    printf '%s\n' "$*"
  } > "$job/cmd.sh"
  local net=() hostfwd=
  if ((${#fwd[@]})); then
    for f in "${fwd[@]}"; do hostfwd+=",hostfwd=tcp:127.0.0.1:${f%%:*}-:${f##*:}"; done
    net=(-netdev "user,id=n0$hostfwd" -device virtio-net-pci,netdev=n0)
  else
    net=(-nic none)
  fi
  local mem=${KVMDBG_VM_MEM:-8G} cpus=${KVMDBG_VM_CPUS:-2} limit=${KVMDBG_VM_TIMEOUT:-3600}
  # -no-reboot: a panic or a reboot ends QEMU instead of looping. The kernel is quiet so that the
  # console carries the command's output alone.
  # QEMU runs under `timeout`, which takes a process group of its own: a signal to this script
  # reaches it through the trap.
  local qpid=
  trap '[ -n "$qpid" ] && kill -TERM "$qpid" 2>/dev/null; wait; rm -rf "$job"; exit 143' TERM INT HUP
  set +e
  timeout -k 10 "$limit" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem" -M q35 \
    -nographic -no-reboot -monitor none -serial stdio \
    -kernel "$VM/vmlinuz" -initrd "$VM/initramfs.gz" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 kvmdbg.job=$job" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap,id=hostroot \
    "${net[@]}" </dev/null &
  qpid=$!
  wait "$qpid"
  local q=$?
  trap - TERM INT HUP
  set -e
  local rc; rc=$(cat "$job/rc" 2>/dev/null || echo)
  rm -rf "$job"
  if [ -z "$rc" ]; then
    [ "$q" = 124 ] && say "the VM ran past KVMDBG_VM_TIMEOUT ($limit s) and was stopped"
    say "the VM ended (QEMU status $q) before the command reported a status"; exit 3
  fi
  exit "$rc"
}

case ${1:-} in
  setup) setup ;;
  deps) deps ;;
  run) shift; run "$@" ;;
  kvm)
    shift; [ "${1:-}" = -- ] && shift
    if have_kvm; then exec bash -c "$*"; fi
    setup; run -- "$@" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
