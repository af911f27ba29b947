// What every `kubectl pkg` command is: its flags, its usage with examples, and its run function,
// which gets the parsed flags and a client built from the global flags.
import type { ParseArgsConfig } from 'node:util';
import { ApiClient } from './client.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Context {
  /** the API client (built on first use, so --help needs no kubeconfig) */
  client(): ApiClient;
  /** -n, or the context's namespace */
  namespace(): string;
  /** -A */
  allNamespaces: boolean;
  /** -o */
  output?: string;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  out: (s: string) => void;
  /** progress and notes (stderr) */
  note: (s: string) => void;
}

export interface Command {
  name: string;
  /** other names the command answers to */
  aliases?: string[];
  summary: string;
  /** usage line after "kubectl pkg <name>", e.g. "REV DIR [flags]" */
  args: string;
  /** the command's own flags (the global ones are added) */
  options?: Options;
  /** lines describing the flags */
  flagHelp?: string[];
  description?: string;
  examples: string[];
  /** number of positional arguments: [min, max] */
  arity: [number, number];
  run(ctx: Context): Promise<void>;
}

export function usageOf(c: Command): string {
  return [
    `${c.summary}${c.description ? `\n\n${c.description}` : ''}`,
    '',
    'Examples:',
    ...c.examples.map((e) => `  ${e}`),
    '',
    `Usage:\n  kubectl pkg ${c.name} ${c.args}`,
    ...(c.aliases?.length ? ['', `Aliases: ${[c.name, ...c.aliases].join(', ')}`] : []),
    ...(c.flagHelp?.length ? ['', 'Flags:', ...c.flagHelp.map((f) => `  ${f}`)] : []),
    '',
    'Global flags: --kubeconfig FILE, --context NAME, -n/--namespace NS, -A/--all-namespaces, -o/--output FORMAT, -h/--help',
  ].join('\n');
}
