// kubectl pkg pull REV DIR: the files of a revision into a local directory.
import path from 'node:path';
import { UserError } from './client.ts';
import type { Command } from './command.ts';
import { readRecord, writeFiles, writeRecord } from './files.ts';

export const pull: Command = {
  name: 'pull',
  summary: 'Write the files of a revision into a local directory',
  description: `Any revision can be pulled; only drafts can be pushed back. DIR is created if needed; the
revision's resourceVersion is recorded in DIR/.pkgserver-pull.yaml for push. Pulling again over
the same DIR refreshes it (files that are gone from the revision are removed).`,
  args: 'REV DIR',
  examples: ['kubectl pkg pull cluster01.deploy.apps.shop.ws1 ./shop', 'kubectl pkg pull catalog.catalog.apps.shop.v2 /tmp/shop-v2 -n team-a'],
  arity: [2, 2],
  async run(ctx) {
    const [name, dirArg] = ctx.positionals;
    const dir = path.resolve(dirArg);
    const c = ctx.client();
    const prr = await c.getResources(name);
    const prev = await readRecord(dir);
    if (prev && (prev.name !== name || prev.namespace !== prr.metadata.namespace))
      throw new UserError(`${dirArg} holds ${prev.namespace}/${prev.name}, not ${prr.metadata.namespace}/${name}: pull into another directory`);
    const files = prr.spec.resources ?? {};
    await writeFiles(dir, files, prev?.files);
    await writeRecord(dir, { name, namespace: prr.metadata.namespace!, resourceVersion: prr.metadata.resourceVersion!, files: Object.keys(files).sort() });
    const n = Object.keys(files).length;
    ctx.out(`pulled ${name} (${n} file${n === 1 ? '' : 's'}, resourceVersion ${prr.metadata.resourceVersion}) into ${dirArg}`);
  },
};
