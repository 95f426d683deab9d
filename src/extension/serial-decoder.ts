// Guest serial bytes to terminal text: UTF-8 decoded across chunk boundaries, escape sequences
// left alone (the terminal interprets them), and a lone \n sent as \r\n so that output written
// for a serial console (which moves to column 0 on \n) does not staircase. No vscode import.

export class SerialDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private lastWasCR = false;

  /** The text to write to the terminal for these bytes. */
  push(bytes: Uint8Array): string {
    return this.fix(this.decoder.decode(bytes, { stream: true }));
  }

  /** Whatever an incomplete UTF-8 sequence at the end left over. */
  flush(): string {
    return this.fix(this.decoder.decode());
  }

  private fix(text: string): string {
    let out = '';
    for (const ch of text) {
      if (ch === '\n' && !this.lastWasCR) out += '\r\n';
      else out += ch;
      this.lastWasCR = ch === '\r';
    }
    return out;
  }
}

/** Terminal input (a string of typed keys, Enter as \r) as the base64 that kvm.serialInput takes. */
export function serialInputArgs(keys: string): { data: string } {
  return { data: Buffer.from(keys, 'utf8').toString('base64') };
}

/** The line the terminal prints when the guest is gone. */
export function exitLine(code: number | undefined, sessionName: string): string {
  const what = code === undefined ? `${sessionName} ended` : `${sessionName}: the guest exited with status ${code}`;
  return `\r\n\x1b[2m[kvmdbg] ${what}; this terminal stays open for reading\x1b[0m\r\n`;
}
