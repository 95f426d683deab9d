// Waiting, event by event (never polling), until a text that grows shows a pattern: a CLI's
// stdout, a guest's serial output over DAP.

/** Where the text lives and who is told when it grows; `said` describes it for failure messages. */
export interface GrowingText<E> {
  text(): string;
  readonly listeners: Set<(event?: E) => void>;
  said(): string;
}

/**
 * The first match of `pattern` in the text from offset `from`. Rejects after `ms`, or with the
 * error `endedBy` makes of a listener's call (the process ended, the guest stopped) first.
 */
export function waitForText<E>(source: GrowingText<E>, pattern: RegExp, ms: number, from: number,
  endedBy: (event: E | undefined) => Error | undefined): Promise<RegExpExecArray> {
  const re = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
  return new Promise((resolve, reject) => {
    const check = (event?: E) => {
      re.lastIndex = from;
      const m = re.exec(source.text());
      if (m) return done(() => resolve(m));
      const ended = endedBy(event);
      if (ended) done(() => reject(ended));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${ms} ms\n${source.said()}`))), ms);
    const done = (f: () => void) => {
      clearTimeout(timer);
      source.listeners.delete(check);
      f();
    };
    source.listeners.add(check);
    check();
  });
}
