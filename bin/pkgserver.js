#!/usr/bin/env node
// Entry point of the `pkgserver` command. The sources are TypeScript run through tsx's loader,
// so there is no build step between `npm ci` and a running server.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
