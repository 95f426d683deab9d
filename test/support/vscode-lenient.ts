// For the tests' stand-ins of the `vscode` module: a namespace that answers what it lacks the way
// a quiet VS Code would, with events (`onDid...`) and registrations (`register...`) that never
// fire, so a view added to the extension later (a tree view, a configuration listener) doesn't
// stop its activation in a test.
export const disposable = { dispose() {} };

export function lenient<T extends object>(o: T): T {
  return new Proxy(o, {
    get(t, k, r) {
      if (Reflect.has(t, k)) return Reflect.get(t, k, r);
      if (typeof k === 'string' && /^(on[A-Z]|register)/.test(k)) return () => disposable;
      return undefined;
    },
  });
}
