// The `pkgserver` command: serve, quickstart, certs, version.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { VERSION } from '../version.ts';

const USAGE = `Usage: pkgserver <command> [flags]

Commands:
  serve       run the API server (embedded store, generated TLS, kubeconfig in the data directory)
  quickstart  make a local catalog and deployment repository, serve them, and print what to try
  certs       write a CA, serving and admin certificates, a kubeconfig and an APIService caBundle
  version     print the version

Run "pkgserver <command> --help" for the command's flags.`;

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    // each command loads only its own modules
    case 'serve':
      return (await import('./serve.ts')).serve(rest);
    case 'quickstart':
      return (await import('./quickstart.ts')).quickstart(rest);
    case 'certs':
      return (await import('./certs.ts')).certs(rest);
    case 'version':
    case '--version':
      console.log(VERSION);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(`pkgserver: unknown command "${cmd}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;
type FlagValues<T extends FlagOptions> = {
  [K in keyof T]?: T[K]['multiple'] extends true ? string[] : T[K]['type'] extends 'boolean' ? boolean : string;
};

/** parseArgs with a --help that prints `usage`, and a clean error for bad flags. */
export function flags<T extends FlagOptions>(argv: string[], options: T, usage: string): FlagValues<T> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true }).values;
  } catch (e) {
    console.error(`pkgserver: ${(e as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values as FlagValues<T>;
}
