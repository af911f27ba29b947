// `kubectl pkg`: the kubectl plugin for package work (bin/kubectl-pkg.js). One command per file;
// this parses the global flags, dispatches and turns failures into kubectl-style messages.
import { parseArgs } from 'node:util';
import { ApiClient, ApiError, UserError } from './client.ts';
import { usageOf, type Command, type Context, type Options } from './command.ts';
import { get } from './get.ts';
import { pull } from './pull.ts';
import { push } from './push.ts';
import { init, clone, copy } from './create.ts';
import { upgrade } from './upgrade.ts';
import { propose, reject, approve, proposeDelete, del } from './lifecycle.ts';
import { diff } from './diff.ts';
import { deps, tree } from './deps.ts';

export const COMMANDS: Command[] = [get, pull, push, diff, init, clone, copy, upgrade, propose, reject, approve, proposeDelete, del, deps, tree];

const GLOBAL: Options = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
};

export const USAGE = `kubectl pkg: package work on pkgserver (pull a draft into a directory, edit it with any tool, push it
back, see what it changes, propose, approve, upgrade, and follow dependencies).

Usage:
  kubectl pkg <command> [args] [flags]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(15)} ${c.summary}${c.aliases?.length ? ` (also: ${c.aliases.join(', ')})` : ''}`).join('\n')}

Global flags (as kubectl's, after "pkg": kubectl looks a plugin up by the words before any flag):
  --kubeconfig FILE, --context NAME, -n/--namespace NS, -A/--all-namespaces, -o/--output FORMAT, -h/--help

Revisions are named <target>.<repository>.<realm with / as :>.<package>.<workspace>; catalog revisions
have the target "catalog" and the revision as workspace (catalog.catalog.apps.shop.v2).
Run "kubectl pkg <command> --help" for a command's flags and examples.`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
  if (!cmd) {
    process.stderr.write(`error: unknown command "${name}" for "kubectl pkg"\n\n${USAGE}\n`);
    return 1;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL, ...(cmd.options ?? {}) }, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\nSee 'kubectl pkg ${cmd.name} --help'.\n`);
    return 1;
  }
  const v = parsed.values as Context['values'];
  if (v.help) {
    process.stdout.write(usageOf(cmd) + '\n');
    return 0;
  }
  const [min, max] = cmd.arity;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    process.stderr.write(`error: "kubectl pkg ${cmd.name}" takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}: ${cmd.args}\nSee 'kubectl pkg ${cmd.name} --help'.\n`);
    return 1;
  }
  let client: ApiClient | undefined;
  const ctx: Context = {
    client: () => {
      if (!client) throw new Error('no client');
      return client;
    },
    namespace: () => ctx.client().namespace,
    allNamespaces: Boolean(v['all-namespaces']),
    output: v.output as string | undefined,
    values: v,
    positionals: parsed.positionals,
    out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
    note: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  };
  try {
    client = await ApiClient.fromKubeconfig({ kubeconfig: v.kubeconfig as string | undefined, context: v.context as string | undefined, namespace: v.namespace as string | undefined });
    await cmd.run(ctx);
    return 0;
  } catch (e) {
    if (e instanceof ApiError) process.stderr.write(e.display() + '\n');
    else if (e instanceof UserError) process.stderr.write(`error: ${e.message}\n`);
    else process.stderr.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}
