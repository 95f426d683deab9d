// The VS Code extension's entry point. Registering the `kvm` debugger is issue #6's work.
export function activate(): void {}
export function deactivate(): void {}
