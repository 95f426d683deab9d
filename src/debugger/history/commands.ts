// The Debug Console's commands of reverse execution: `record start|stop|status`, `info record`,
// `goto N`. Answered before the gdb-style commands of console-commands.ts, which know no history.
import { GuestError, hex } from '../../errors.js';
import type { Recorder } from './recorder.js';

export const HISTORY_HELP = `  record start|stop|status    record every instruction from now (single steps), for step back,
                             reverse continue and goto; stop drops the history
  info record                the history: instructions recorded, the position, its size
  goto N                     to position N of the history (0: its start; info record: the present)`;

/** What a history command did: its text, and whether the vCPU's state moved (the views refresh). */
export interface HistoryAnswer {
  text: string;
  moved: boolean;
}

/** Runs `line` when it is a history command; undefined otherwise. */
export function runHistoryCommand(line: string, rec: Recorder): HistoryAnswer | undefined {
  const words = line.trim().split(/\s+/);
  const [a, b] = [words[0]?.toLowerCase(), words[1]?.toLowerCase()];
  if (a === 'record' && words.length <= 2) {
    if (b === 'start') {
      rec.start();
      return { text: 'recording: every instruction is now single-stepped and recorded', moved: false };
    }
    if (b === 'stop') {
      const moved = rec.replaying;
      rec.stop();
      return { text: 'recording stopped; the history was dropped and the guest is at the present', moved };
    }
    if (b === undefined || b === 'status') return { text: status(rec), moved: false };
    throw new GuestError('record takes start, stop or status');
  }
  if ((a === 'info' || a === 'i') && b === 'record' && words.length === 2) return { text: status(rec), moved: false };
  if (a === 'goto' && words.length === 2 && /^\d+$/.test(words[1])) {
    rec.goto(Number(words[1]));
    return { text: `at position ${rec.log.position} of ${rec.log.length}`, moved: true };
  }
  return undefined;
}

/** `info record` names this many of the entries that may not be restored exactly. */
const SHOWN_INEXACT = 3;

function status(rec: Recorder): string {
  const log = rec.log;
  const lines = [
    `recording: ${rec.recording ? 'on' : 'off'}`,
    `instructions recorded: ${log.length}`,
    `position: ${log.position}${log.atPresent ? ' (the present)' : ''}`,
    `history size: ${log.bytes} bytes (${log.length ? (log.bytes / log.length).toFixed(1) : 0} per instruction)`,
  ];
  if (log.firstPc !== undefined) lines.push(`first instruction: ${hex(log.firstPc)}`);
  if (log.length) lines.push(`recorded on the fast path (plain instructions of 64- and 32-bit code): ${rec.plainRecorded}`);
  const irqs = log.deliveredCount;
  if (irqs) lines.push(`interrupts delivered while recording: ${irqs}`);
  const inexact = log.inexactCount;
  if (inexact) {
    lines.push(`${inexact} instructions may not be restored exactly${inexact > SHOWN_INEXACT ? `; the first ${SHOWN_INEXACT}` : ''}:`);
    for (const [position, why] of log.inexactEntries(SHOWN_INEXACT)) lines.push(`  at position ${position}: ${why}`);
  }
  return lines.join('\n');
}
