// Expecting a GuestError (src/errors.ts): the errors kvmdbg shows its users, with their messages.
import assert from 'node:assert/strict';
import { GuestError } from '../../src/errors.js';

/** Expects `fn` to throw a one-line GuestError whose message matches every pattern; returns the message. */
export function throwsGuest(fn: () => unknown, ...patterns: (RegExp | string)[]): string {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof GuestError, `expected a GuestError, got ${err === undefined ? 'no error' : String(err)}`);
  for (const p of patterns) {
    if (typeof p === 'string') assert.ok(err.message.includes(p), `message "${err.message}" lacks "${p}"`);
    else assert.match(err.message, p);
  }
  assert.ok(!err.message.includes('\n'), 'messages are one line');
  return err.message;
}

/** Expects `fn` to throw a GuestError whose message matches `re`. */
export function throwsMsg(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof GuestError, `a GuestError, got ${e}`);
    assert.match(e.message, re);
    return true;
  });
}
