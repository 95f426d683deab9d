// Imported first by every test file that runs guests: such a file fails at once, with the way
// out, where this machine has no read-write /dev/kvm (scripts/run-tests.sh runs these files in
// the test VM there; the import is also how it tells them apart).
import { accessSync, constants } from 'node:fs';

try {
  accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
} catch (e) {
  throw new Error(
    `this test file runs guests and needs read-write /dev/kvm (${(e as Error).message}); on a machine ` +
    'without one, run it in the test VM: scripts/test-vm.sh kvm -- node --import tsx --test FILE',
  );
}
