// kubectl pkg push REV DIR: the files of a local directory become the draft's files (one commit).
import path from 'node:path';
import { PKG, ApiError, UserError } from './client.ts';
import type { Command } from './command.ts';
import { readFiles, readRecord, writeFiles, writeRecord } from './files.ts';

export const push: Command = {
  name: 'push',
  summary: "Replace a draft's files with those of a local directory",
  description: `The directory's files (without .git and .pkgserver-pull.yaml) become exactly the draft's files:
added and changed files are written, files deleted locally are deleted. The write carries the
resourceVersion recorded by pull, so a revision changed by someone else since is refused (pull
again, or --force to overwrite their change). Published revisions cannot change: copy one into a
new draft (kubectl pkg copy) and push there.`,
  args: 'REV DIR [--force]',
  options: { force: { type: 'boolean' } },
  flagHelp: ['--force   write even if the revision changed since the pull (overwrites the other change)'],
  examples: ['kubectl pkg pull cluster01.deploy.apps.shop.ws1 ./shop && $EDITOR ./shop/shop.yaml && kubectl pkg push cluster01.deploy.apps.shop.ws1 ./shop', 'kubectl pkg push cluster01.deploy.apps.shop.ws1 ./shop --force'],
  arity: [2, 2],
  async run(ctx) {
    const [name, dirArg] = ctx.positionals;
    const dir = path.resolve(dirArg);
    const force = Boolean(ctx.values.force);
    const c = ctx.client();
    const record = await readRecord(dir);
    if (record && record.name !== name) throw new UserError(`${dirArg} was pulled from ${record.name}, not ${name}`);
    if (!record && !force) throw new UserError(`${dirArg} has no .pkgserver-pull.yaml: pull ${name} into it first (or push --force to write its files regardless)`);
    const ns = record?.namespace ?? ctx.namespace();
    const files = await readFiles(dir);
    const pr = await c.getRevision(name, ns);
    const lc = pr.spec.lifecycle;
    if (lc === 'published' || lc === 'deletionProposed')
      throw new UserError(`${name} is ${lc}, and published revisions never change: make a new draft of the package from it with "kubectl pkg copy ${name} --workspace <new-workspace>", pull that and push there`);
    if (lc === 'proposed') throw new UserError(`${name} is proposed: only drafts can be edited; "kubectl pkg reject ${name}" makes it a draft again`);
    const current = await c.getResources(name, ns);
    let rv = current.metadata.resourceVersion!;
    if (record && record.resourceVersion !== rv && !force)
      throw new UserError(
        `${name} changed on the server since it was pulled into ${dirArg} (resourceVersion ${record.resourceVersion} then, ${rv} now): pull it into another directory and carry your edits over, or push --force to overwrite the other change`,
      );
    if (record && !force) rv = record.resourceVersion;
    const before = current.spec.resources ?? {};
    const added = Object.keys(files).filter((f) => !(f in before));
    const changed = Object.keys(files).filter((f) => f in before && before[f] !== files[f]);
    const deleted = Object.keys(before).filter((f) => !(f in files));
    if (!added.length && !changed.length && !deleted.length) {
      ctx.out(`${name}: no changes to push`);
      if (record) await writeRecord(dir, { ...record, resourceVersion: current.metadata.resourceVersion! });
      return;
    }
    try {
      if (deleted.length && pr.spec.updatePolicy !== 'strict') {
        // files absent from an update are kept under the loose policy: strict makes the update exact
        const p = await c.request('PATCH', c.path('packagerevisions', ns, name), { metadata: { resourceVersion: rv }, spec: { updatePolicy: 'strict' } }, { contentType: 'application/merge-patch+json' });
        rv = p.metadata.resourceVersion;
        ctx.note(`${name}: spec.updatePolicy set to strict, so that the files deleted in ${dirArg} are deleted`);
      }
      ctx.note(`pushing ${name}: ${[added.length && `${added.length} added`, changed.length && `${changed.length} changed`, deleted.length && `${deleted.length} deleted`].filter(Boolean).join(', ')}...`);
      const updated = await c.request('PUT', c.path('packagerevisionresources', ns, name), {
        apiVersion: PKG,
        kind: 'PackageRevisionResources',
        metadata: { name, namespace: ns, resourceVersion: rv },
        spec: { packageRevID: current.spec.packageRevID, resources: files },
      });
      // the server's result (it regenerates managed files such as kustomization.yaml): DIR mirrors the draft again
      const after = (updated.spec?.resources ?? files) as Record<string, string>;
      await writeFiles(dir, after, Object.keys(files));
      await writeRecord(dir, { name, namespace: ns, resourceVersion: updated.metadata.resourceVersion, files: Object.keys(after).sort() });
      for (const f of added) ctx.out(`  added    ${f}`);
      for (const f of changed) ctx.out(`  changed  ${f}`);
      for (const f of deleted) ctx.out(`  deleted  ${f}`);
      ctx.out(`pushed ${name} (resourceVersion ${updated.metadata.resourceVersion})`);
    } catch (e) {
      if (e instanceof ApiError && e.code === 409)
        throw new ApiError(409, 'Conflict', `${e.message}: ${name} changed on the server since it was pulled; pull again, or push --force to overwrite`);
      throw e;
    }
  },
};
