#!/usr/bin/env node
// Entry point of the `pkgserver` command: the bundle in dist/ when current, else the sources (bin/entry.js).
import { loadMain } from './entry.js';

const main = await loadMain('main.js', 'cli/main.ts');
await main(process.argv.slice(2));
