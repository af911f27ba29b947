// Where packages, drafts and published revisions live in a repository (SPEC 4.2), and the commit
// trailer that lets the server rebuild a PackageRevision from git alone.
import { CATALOG_TARGET, compareRevisions, isRevision, revisionMajor, type PackageRevID, type PackageRevisionSpec } from '../../api/pkg.ts';

export { compareRevisions, isRevision, revisionMajor };

/** A package within one repository. */
export interface PackageKey {
  target: string;
  realm: string;
  package: string;
}

export type BranchKind = 'draft' | 'proposed';

/** The package a revision belongs to. */
export function packageKey(id: Pick<PackageRevID, 'target' | 'realm' | 'package'>): PackageKey {
  return { target: id.target, realm: id.realm ?? '', package: id.package };
}

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class Layout {
  private readonly prefix: string;

  constructor(
    directory: string,
    readonly deployment: boolean,
  ) {
    this.prefix = directory ? `${directory.replace(/^\/+|\/+$/g, '')}/` : '';
  }

  /** `<directory>/[<target>/]<realm>/<package>` */
  packagePath(k: PackageKey): string {
    const parts = [this.deployment ? k.target : '', k.realm, k.package].filter(Boolean);
    return this.prefix + parts.join('/');
  }

  draftBranch(k: PackageKey, workspace: string): string {
    return `drafts/${this.packagePath(k)}/${workspace}`;
  }

  proposedBranch(k: PackageKey, workspace: string): string {
    return `proposed/${this.packagePath(k)}/${workspace}`;
  }

  branch(kind: BranchKind, k: PackageKey, workspace: string): string {
    return kind === 'draft' ? this.draftBranch(k, workspace) : this.proposedBranch(k, workspace);
  }

  tag(k: PackageKey, revision: string): string {
    return `${this.packagePath(k)}/${revision}`;
  }

  /** The package a path (relative to the repository root) names, if it is one this layout can hold. */
  parsePackagePath(path: string): PackageKey | undefined {
    if (!path.startsWith(this.prefix)) return undefined;
    const segs = path.slice(this.prefix.length).split('/');
    if (segs.some((s) => !LABEL_RE.test(s) || s.length > 63)) return undefined;
    if (this.deployment) {
      if (segs.length < 2) return undefined;
      return { target: segs[0], realm: segs.slice(1, -1).join('/'), package: segs[segs.length - 1] };
    }
    if (segs.length < 1) return undefined;
    return { target: CATALOG_TARGET, realm: segs.slice(0, -1).join('/'), package: segs[segs.length - 1] };
  }

  /** `P/vN` → the package and the revision. */
  parseTag(tag: string): { key: PackageKey; revision: string } | undefined {
    const i = tag.lastIndexOf('/');
    if (i < 0) return undefined;
    const revision = tag.slice(i + 1);
    if (!isRevision(revision)) return undefined;
    const key = this.parsePackagePath(tag.slice(0, i));
    return key && { key, revision };
  }

  /** `drafts/P/ws` or `proposed/P/ws` → the package, the workspace and which kind of branch. */
  parseBranch(branch: string): { key: PackageKey; workspace: string; kind: BranchKind } | undefined {
    const kind: BranchKind | undefined = branch.startsWith('drafts/') ? 'draft' : branch.startsWith('proposed/') ? 'proposed' : undefined;
    if (!kind) return undefined;
    const rest = branch.slice(kind === 'draft' ? 'drafts/'.length : 'proposed/'.length);
    const i = rest.lastIndexOf('/');
    if (i < 0) return undefined;
    const workspace = rest.slice(i + 1);
    if (!LABEL_RE.test(workspace)) return undefined;
    const key = this.parsePackagePath(rest.slice(0, i));
    return key && { key, workspace, kind };
  }
}

// ---------------------------------------------------------------- commit trailer

export const TRAILER_KEY = 'pkgserver';

/** What a commit records of its PackageRevision: enough to rebuild the object from git. */
export interface Trailer {
  name: string;
  spec: PackageRevisionSpec;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  publishedBy?: string;
  publishTimestamp?: string;
}

/** A commit message: a readable first line, a blank line, then `pkgserver: {json}`. */
export function commitMessage(subject: string, t: Trailer): string {
  return `${subject}\n\n${TRAILER_KEY}: ${JSON.stringify(t)}\n`;
}

export function parseTrailer(message: string): Trailer | undefined {
  const line = message.split('\n').reverse().find((l) => l.startsWith(`${TRAILER_KEY}: `));
  if (!line) return undefined;
  try {
    const t = JSON.parse(line.slice(TRAILER_KEY.length + 2)) as Trailer;
    return t && typeof t === 'object' && t.spec?.packageRevID ? t : undefined;
  } catch {
    return undefined;
  }
}
