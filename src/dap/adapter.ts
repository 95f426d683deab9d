// The debug adapter's entry point. The DAP session is issue #4's work; until then this entry
// answers nothing and says so, so that a launch fails visibly instead of hanging.
process.stderr.write('kvmdbg: the debug adapter is not implemented yet\n');
process.exit(1);
