#!/usr/bin/env bash
# Runs test files (default: test/*.test.ts) with node's test runner, each test under a time limit.
# Files that import test/support/needs-kvm (they run guests) or needs-ia32 (they run 32-bit
# programs) run where the machine can: directly where /dev/kvm is read-write, else together in
# one boot of the test VM (scripts/test-vm.sh); where that /dev/kvm is kvm_pvm, in both (below).
# KVMDBG_TEST_VM=1: the test VM only; 0: this machine's /dev/kvm only. The rest run here, where
# node is fastest.
#   scripts/run-tests.sh                      every test file
#   scripts/run-tests.sh test/machine.test.ts one file (or several)
set -uo pipefail
cd "$(dirname "$0")/.."
files=("$@")
((${#files[@]})) || files=(test/*.test.ts)
# A test's limit: the slowest tests (200 VM lifecycles, a stepped DAP session) take minutes in
# the test VM, where node runs 10-40x slower than here.
runner=(node --import tsx --test --test-reporter=spec --test-concurrency=1 --test-timeout="${KVMDBG_TEST_TIMEOUT_MS:-600000}")
[ -t 1 ] || export NO_COLOR=1
here=() there=()
for f in "${files[@]}"; do
  if grep -qE "^import '\./support/needs-(kvm|ia32)\.js';" "$f"; then there+=("$f"); else here+=("$f"); fi
done
# One temporary folder for both sides (scripts/test-vm.sh gives the VM this one): tsx's transpile
# cache, filled here first, spares the VM's slow node most of its compiling.
export TMPDIR=$PWD/.testvm/tmp
mkdir -p "$TMPDIR"
status=0
# Each part's output is kept too: at the end the failures of every part that failed are printed
# again, so that the tail of a long run (CI's view) shows them all, the first parts' included.
logs=()
part() { # part TITLE CMD...: runs CMD under TITLE, its output also in a log
  local title=$1 log
  shift
  echo "== $title"
  log=$(mktemp "$TMPDIR/run-tests.XXXXXX")
  if ! "$@" 2>&1 | tee "$log"; then
    status=1
    logs+=("$title" "$log")
  else
    rm -f "$log"
  fi
}
if ((${#here[@]})); then
  part "${#here[@]} test files here (no KVM needed)" "${runner[@]}" "${here[@]}"
fi
if ((${#there[@]})); then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ "${KVMDBG_TEST_VM:-}" != 1 ]; then
    bash scripts/test-vm.sh deps
    part "${#there[@]} test files on this machine's /dev/kvm" "${runner[@]}" "${there[@]}"
    # kvm_pvm emulates ring-0 code: where its emulator can't run a guest (SSE, a 32-bit iret) or
    # can't run it in time (a Linux boot), the test adapts there, saying so (host-facts.ts).
    # The test VM's nested kvm_amd, which behaves like AMD hardware, runs the same files whole.
    if [ -d /sys/module/kvm_pvm ] && [ "${KVMDBG_TEST_VM:-}" != 0 ]; then
      part "the same ${#there[@]} test files in the test VM (this /dev/kvm is kvm_pvm; KVMDBG_TEST_VM=0 skips this)" \
        bash scripts/test-vm.sh run -- "${runner[*]} ${there[*]}"
    fi
  else
    part "${#there[@]} test files in the test VM (no read-write /dev/kvm here, or KVMDBG_TEST_VM=1)" \
      bash scripts/test-vm.sh run -- "${runner[*]} ${there[*]}"
  fi
fi
for ((i = 0; i < ${#logs[@]}; i += 2)); do
  echo "== failed: ${logs[i]}"
  # The runner's own summary of its failures where it got that far, else how the part ended.
  if grep -q 'failing tests:' "${logs[i + 1]}"; then sed -n '/failing tests:/,$p' "${logs[i + 1]}" | head -300
  else tail -20 "${logs[i + 1]}"; fi
  rm -f "${logs[i + 1]}"
done
exit $status
