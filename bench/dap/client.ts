// A minimal Debug Adapter Protocol client over a child process's stdio: Content-Length framing,
// requests matched to responses by seq, events queued by name so none is missed. Nothing else,
// so that the client adds as little as possible to what the benchmark measures.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Body = any;

interface Waiter {
  resolve: (body: Body) => void;
  reject: (e: Error) => void;
  command: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export class DapClient {
  private seq = 1;
  private buf: Buffer = Buffer.alloc(0);
  private bodyLength = -1;
  private readonly pending = new Map<number, Waiter>();
  private readonly queues = new Map<string, Body[]>();
  private readonly eventWaiters = new Map<string, ((body: Body) => void)[]>();
  private exited: Error | undefined;
  /** The adapter's stderr, kept for error messages. */
  stderr = '';
  readonly exit: Promise<number | null>;

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.on('data', (d: Buffer) => this.onData(d));
    proc.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 20000) this.stderr = this.stderr.slice(-10000);
    });
    this.exit = new Promise((resolve) => proc.on('exit', (code) => {
      this.exited = new Error(`adapter exited (${code}): ${this.stderr.slice(-2000)}`);
      for (const w of this.pending.values()) w.reject(this.exited);
      this.pending.clear();
      resolve(code);
    }));
  }

  static spawn(node: string, nodeArgs: string[], env: NodeJS.ProcessEnv = process.env): DapClient {
    return new DapClient(spawn(node, nodeArgs, { stdio: ['pipe', 'pipe', 'pipe'], env }));
  }

  /** Sends a request; resolves with the response body, rejects with the adapter's message. */
  request(command: string, args?: object): Promise<Body> {
    if (this.exited) return Promise.reject(this.exited);
    const seq = this.seq++;
    const json = JSON.stringify({ seq, type: 'request', command, arguments: args });
    this.proc.stdin.write(`Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    return new Promise((resolve, reject) => this.pending.set(seq, { resolve, reject, command }));
  }

  /** The next event of this name: one already queued, or the next to arrive. */
  event(name: string, timeoutMs = 30000): Promise<Body> {
    const q = this.queues.get(name);
    if (q?.length) return Promise.resolve(q.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${name} event within ${timeoutMs} ms`)), timeoutMs);
      const list = this.eventWaiters.get(name) ?? [];
      list.push((b) => {
        clearTimeout(t);
        resolve(b);
      });
      this.eventWaiters.set(name, list);
    });
  }

  /** Drops queued events of this name (output events pile up otherwise). */
  drop(name: string): void {
    this.queues.delete(name);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.bodyLength < 0) {
        const end = this.buf.indexOf(HEADER_END);
        if (end < 0) return;
        const m = /Content-Length: *(\d+)/i.exec(this.buf.subarray(0, end).toString('ascii'));
        if (!m) throw new Error(`bad DAP header: ${this.buf.subarray(0, end).toString()}`);
        this.bodyLength = Number(m[1]);
        this.buf = this.buf.subarray(end + 4);
      }
      if (this.buf.length < this.bodyLength) return;
      const msg = JSON.parse(this.buf.subarray(0, this.bodyLength).toString('utf8'));
      this.buf = this.buf.subarray(this.bodyLength);
      this.bodyLength = -1;
      this.dispatch(msg);
    }
  }

  private dispatch(msg: Body): void {
    if (msg.type === 'response') {
      const w = this.pending.get(msg.request_seq);
      if (!w) return;
      this.pending.delete(msg.request_seq);
      if (msg.success) w.resolve(msg.body ?? {});
      else w.reject(new Error(`${w.command}: ${msg.body?.error?.format ?? msg.message}`));
    } else if (msg.type === 'event') {
      if (msg.event === 'output') return; // the guest's serial output: not needed here
      const w = this.eventWaiters.get(msg.event)?.shift();
      if (w) return w(msg.body ?? {});
      const q = this.queues.get(msg.event) ?? [];
      q.push(msg.body ?? {});
      this.queues.set(msg.event, q);
    }
  }

  /** disconnect, then close stdin; SIGTERM if the adapter has not gone within `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    if (!this.exited) {
      await Promise.race([this.request('disconnect', {}).catch(() => undefined), delay(graceMs)]);
      this.proc.stdin.end();
    }
    const t = setTimeout(() => this.proc.kill('SIGTERM'), 300);
    const k = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exit;
    clearTimeout(t);
    clearTimeout(k);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
