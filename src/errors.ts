// Errors the monitor reports to people. A GuestError is about the user's input (file, option,
// guest state) and is printed as one line without a stack trace; anything else is a bug.
export class GuestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestError';
  }
}

/** Formats an address the way every message and dump in kvmdbg does. */
export function hex(v: number | bigint, width = 0): string {
  return '0x' + v.toString(16).padStart(width, '0');
}

/** A launch configuration that can't be used: what the user wrote, and why. */
export class LaunchError extends Error {}
