// The KVM Live Watch view's model, without vscode (live-watch.ts is the thin VS Code side): the
// expressions a user watches, as workspaceState keeps them, and each one's last value with
// whether it changed at the last refresh. Values come from the adapter's kvm.liveWatch request
// (src/protocol.ts), running or stopped.
import { LIVE_WATCH_MAX_EXPRESSIONS, type LiveWatchValue } from '../protocol.js';

/** The workspaceState key the expressions are kept under. */
export const LIVE_WATCH_STATE_KEY = 'kvmdbg.liveWatch.expressions';
/** The refresh interval's bounds and default (ms), as package.json's setting declares them. */
export const REFRESH_DEFAULT_MS = 500;
export const REFRESH_MIN_MS = 100;
/** An expression's longest text (the adapter refuses longer ones). */
export const MAX_EXPRESSION_LENGTH = 1000;

/** What workspaceState keeps: the expressions, in the view's order. */
export interface PersistedLiveWatch {
  version: 1;
  expressions: string[];
}

/** One row of the view. */
export interface LiveWatchRow {
  /** A stable id for the row (its tree item id), kept across edits. */
  id: number;
  expression: string;
  /** The value shown; undefined before the first refresh or without a session. */
  value?: string;
  type?: string;
  error?: string;
  /** The value differs from the one before it (at the last refresh that read one). */
  changed: boolean;
}

/** The refresh interval from the setting: a number of ms, at least REFRESH_MIN_MS. */
export function refreshInterval(setting: unknown): number {
  const n = typeof setting === 'number' && Number.isFinite(setting) ? setting : REFRESH_DEFAULT_MS;
  return Math.max(REFRESH_MIN_MS, Math.round(n));
}

/** An expression as typed, trimmed and checked: the text, or why it can't be watched. */
export function checkExpression(text: string): { expression: string } | { error: string } {
  const expression = text.trim();
  if (!expression) return { error: 'an expression, such as *(uint32_t *)0x1000 or counter' };
  if (expression.length > MAX_EXPRESSION_LENGTH) return { error: `at most ${MAX_EXPRESSION_LENGTH} characters` };
  if (/[\r\n]/.test(expression)) return { error: 'one line' };
  return { expression };
}

export class LiveWatchModel {
  private rows: LiveWatchRow[] = [];
  private nextId = 1;

  /** From what workspaceState kept (anything else, or nothing: no expressions). */
  constructor(persisted?: unknown) {
    const p = persisted as Partial<PersistedLiveWatch> | undefined;
    const list = p && p.version === 1 && Array.isArray(p.expressions) ? p.expressions : [];
    for (const e of list) {
      if (typeof e !== 'string') continue;
      const c = checkExpression(e);
      if ('expression' in c && this.rows.length < LIVE_WATCH_MAX_EXPRESSIONS) this.rows.push(this.row(c.expression));
    }
  }

  private row(expression: string): LiveWatchRow {
    return { id: this.nextId++, expression, changed: false };
  }

  get list(): readonly LiveWatchRow[] {
    return this.rows;
  }

  get expressions(): string[] {
    return this.rows.map((r) => r.expression);
  }

  get full(): boolean {
    return this.rows.length >= LIVE_WATCH_MAX_EXPRESSIONS;
  }

  /** What workspaceState is to keep. */
  persisted(): PersistedLiveWatch {
    return { version: 1, expressions: this.expressions };
  }

  /** Adds an expression at the end; an error text if it can't be. */
  add(text: string): string | undefined {
    if (this.full) return `at most ${LIVE_WATCH_MAX_EXPRESSIONS} expressions`;
    const c = checkExpression(text);
    if ('error' in c) return c.error;
    this.rows.push(this.row(c.expression));
    return undefined;
  }

  /** Changes a row's expression; its value is forgotten until the next refresh. */
  edit(id: number, text: string): string | undefined {
    const r = this.rows.find((x) => x.id === id);
    if (!r) return 'no such expression';
    const c = checkExpression(text);
    if ('error' in c) return c.error;
    if (c.expression !== r.expression) Object.assign(r, { expression: c.expression, value: undefined, type: undefined, error: undefined, changed: false });
    return undefined;
  }

  remove(id: number): void {
    this.rows = this.rows.filter((x) => x.id !== id);
  }

  removeAll(): void {
    this.rows = [];
  }

  /**
   * The values of a refresh, in the order of `asked` (the expressions as they were when it was
   * asked: a row edited or removed meanwhile is left alone). A row is marked changed when it had a
   * value or error before and now has a different one. Returns whether anything shown changed.
   */
  update(asked: readonly string[], values: readonly LiveWatchValue[]): boolean {
    let any = false;
    const byExpr = new Map<string, LiveWatchValue>();
    asked.forEach((e, i) => values[i] && byExpr.set(e, values[i]));
    for (const r of this.rows) {
      const v = byExpr.get(r.expression);
      if (!v) continue;
      const value = 'value' in v ? v.value : undefined;
      const error = 'error' in v ? v.error : undefined;
      const before = r.value ?? r.error;
      const had = before !== undefined;
      const changed = had && (value !== r.value || error !== r.error);
      if (changed !== r.changed || value !== r.value || error !== r.error) any = true;
      r.changed = changed;
      r.value = value;
      r.error = error;
      r.type = 'type' in v ? v.type : undefined;
    }
    return any;
  }

  /** Every row without a value: the session ended (or none runs). The change marks go too. */
  clearValues(): void {
    for (const r of this.rows) Object.assign(r, { value: undefined, type: undefined, error: undefined, changed: false });
  }

  /** A row as the tree shows it: label, description and tooltip. */
  static label(r: LiveWatchRow): { label: string; description: string; tooltip: string } {
    const shown = r.error !== undefined ? `<${r.error}>` : r.value ?? '';
    return {
      label: r.expression,
      description: shown,
      tooltip: `${r.expression}${r.type ? ` (${r.type})` : ''}\n${r.error !== undefined ? 'error: ' + r.error : r.value ?? 'no value yet'}${r.changed ? '\nchanged at the last refresh' : ''}`,
    };
  }
}
