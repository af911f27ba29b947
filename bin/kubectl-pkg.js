#!/usr/bin/env node
// Entry point of the kubectl plugin `kubectl pkg` (kubectl runs `kubectl-pkg` from PATH with the
// arguments after "pkg"). The sources are TypeScript run through tsx's loader, as bin/pkgserver.js.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/pkg/main.ts');
process.exitCode = await main(process.argv.slice(2));
