// With BENCH_PROFILE=DIR, a bench's measuring loop (not the machine set-up: the profiler's SIGPROF
// makes a slow set-up ioctl such as KVM_CREATE_VM fail with EINTR) is CPU-profiled into
// DIR/NAME.cpuprofile (bench/profile-summary.ts reads it); BENCH_PROFILE_US sets the sampling
// interval (default 100 µs). Samples that land inside KVM_RUN interrupt it (EINTR), so profiled
// rates read low.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PROFILE_DIR = process.env.BENCH_PROFILE;
let session: Session | undefined;

function post(method: string, params?: object): Promise<any> {
  return new Promise((resolve, reject) =>
    session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
}

export async function profileStart(): Promise<void> {
  if (!PROFILE_DIR) return;
  session ??= new Session();
  session.connect();
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_US ?? 100) });
  await post('Profiler.start');
}

export async function profileStop(name: string): Promise<void> {
  if (!PROFILE_DIR || !session) return;
  const { profile } = await post('Profiler.stop');
  session.disconnect();
  mkdirSync(PROFILE_DIR, { recursive: true });
  writeFileSync(join(PROFILE_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
}
