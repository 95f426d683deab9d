// Where the guest's serial output goes, as launch.json's "serial" says: the Debug Console, the
// extension's terminal (a kvm.serial event), or a file opened at launch.
import { closeSync, openSync, writeSync } from 'node:fs';
import { LaunchError } from '../errors.js';
import type { SerialTarget } from './launch-args.js';

export class SerialSink {
  private fd = -1;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly target: SerialTarget, private readonly send: { console(text: string): void; terminal(bytes: Buffer): void }) {}

  /**
   * Opens (and truncates) the file, once the launch has built its machine: a path that can't be
   * written fails the launch, and a launch that fails on its input leaves an existing file alone.
   */
  open(): void {
    if (this.target.kind !== 'file' || this.fd >= 0) return;
    try {
      this.fd = openSync(this.target.path, 'w');
    } catch (e) {
      throw new LaunchError(`launch.json: "serial": cannot write ${this.target.path}: ${(e as Error).message}`);
    }
  }

  write(bytes: Buffer): void {
    if (this.target.kind === 'file') {
      if (this.fd >= 0) writeSync(this.fd, bytes);
    } else if (this.target.kind === 'terminal') this.send.terminal(bytes);
    else this.send.console(this.decoder.decode(bytes, { stream: true }));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
