#!/usr/bin/env node
// Entry point of the kubectl plugin `kubectl pkg` (kubectl runs `kubectl-pkg` from PATH with the
// arguments after "pkg"): the bundle in dist/ when current, else the sources (bin/entry.js).
import { loadMain } from './entry.js';

const main = await loadMain('kubectl-pkg.js', 'cli/pkg/main.ts');
process.exitCode = await main(process.argv.slice(2));
