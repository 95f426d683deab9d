// The debug adapter for an end-to-end test on a machine without /dev/kvm: `dist/adapter.js
// --server` runs in the test VM (scripts/test-vm.sh), whose QEMU forwards a port on 127.0.0.1 to
// it, and VS Code stays here, reaching it through the launch configuration's `debugServer`
// (src/extension/adapter-factory.ts). VS Code and the browser are far too slow inside the VM.
// The VM shares this machine's root, so paths are the same on both sides; what the adapter reads
// must exist before the VM starts (it caches what it has looked up).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, OUTPUT_DIR } from './code-server.js';

export interface AdapterVm {
  port: number;
  stop(): Promise<void>;
}

const GUEST_PORT = 4711;
const GUEST_ADDRESS = '10.0.2.15';

/** What scripts/test-vm.sh says while another VM holds the machine's one-VM lock. */
const LOCK_WAIT = 'another test VM is running here';

/**
 * Boots the VM with the adapter behind 127.0.0.1:port; resolves once it accepts connections.
 * timeoutMs counts from when the VM may start: time spent waiting for another checkout's VM to
 * end (scripts/test-vm.sh's lock) counts against lockWaitMs instead (E2E_VM_LOCK_WAIT_S, 600 s by
 * default; the test's own timeout still bounds the whole).
 */
export async function startAdapterInTestVm(port: number, timeoutMs = 180_000,
  lockWaitMs = Number(process.env.E2E_VM_LOCK_WAIT_S ?? 600) * 1000): Promise<AdapterVm> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const ready = join(OUTPUT_DIR, `adapter-vm-${port}.ready`);
  rmSync(ready, { force: true });
  // The job: the adapter, then a ready file once it accepts connections (QEMU's forwarding
  // accepts on this side before anything listens on the other, so the port alone says nothing).
  // It listens on the VM's own address (scripts/test-vm-init), where the forwarding arrives.
  const job = `node dist/adapter.js --server=${GUEST_ADDRESS}:${GUEST_PORT} & ` +
    `until (exec 3<>/dev/tcp/${GUEST_ADDRESS}/${GUEST_PORT}) 2>/dev/null; do sleep 0.5; done; touch ${ready}; wait`;
  const log = createWriteStream(join(OUTPUT_DIR, 'adapter-vm.log'));
  const proc = spawn('bash', [join(ROOT, 'scripts/test-vm.sh'), 'run', '--fwd', `${port}:${GUEST_PORT}`, '--', job], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  // test-vm.sh prints LOCK_WAIT and blocks on the lock; anything it prints after is the VM's start.
  let waitingForLock = false;
  let lockWaited = 0;
  const watch = (chunk: Buffer) => {
    const text = chunk.toString();
    const at = text.lastIndexOf(LOCK_WAIT);
    waitingForLock = at >= 0 ? !/\S/.test(text.slice(at).split('\n').slice(1).join('\n')) : false;
  };
  proc.stdout.on('data', watch);
  proc.stderr.on('data', watch);
  let exited = false;
  proc.on('exit', () => (exited = true));
  const stop = async () => {
    if (!exited) {
      try { process.kill(-proc.pid!, 'SIGTERM'); } catch { /* gone already */ }
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone already */ }
    }
    rmSync(ready, { force: true });
  };
  let end = Date.now() + timeoutMs;
  while (!existsSync(ready)) {
    if (waitingForLock && lockWaited < lockWaitMs) {
      lockWaited += 250;
      end += 250;
    }
    if (exited || Date.now() > end) {
      // why, before stop() ends the VM's process
      const why = exited ? '(the VM ended)' : waitingForLock ? `(still waiting for another test VM to end after ${lockWaited / 1000} s)` : `within ${timeoutMs / 1000} s`;
      await stop();
      throw new Error(`the adapter in the test VM did not start ${why}: see ${join(OUTPUT_DIR, 'adapter-vm.log')}`);
    }
    await sleep(250);
  }
  return { port, stop };
}
