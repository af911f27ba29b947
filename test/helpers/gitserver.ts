// A real smart-HTTP git server for tests: Debian's `git http-backend` (a CGI program), spawned
// once per request behind `node:http`, serving every bare repository under `root`.
//
// * Basic auth: pushes always need the configured user and password; reads only when
//   `requireAuthForRead` is set. A `Bearer <password>` header is accepted as the same user.
// * `/x` and `/x.git` both reach `<root>/x.git` (http-backend finds the `.git` suffix itself).
// * `setDown(true)` resets every connection, so clients see the remote as unreachable.
//
// Only asynchronous child processes are used: a synchronous `git` call against this server from
// the same process would block the event loop that serves it and deadlock.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Environment for every git process started here: no user or system configuration leaks in. */
export const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: os.tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Committer',
  GIT_COMMITTER_EMAIL: 'committer@example.com',
};

/** Runs `git args…` in `cwd` and resolves with its stdout; rejects with stderr on failure. */
export function git(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env: GIT_ENV, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')} (in ${cwd}) failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

export interface GitServerOptions {
  /** directory holding the bare repositories (default: a new temporary directory, removed by stop()) */
  root?: string;
  user?: string;
  password?: string;
  /** also require credentials to clone and fetch (default false: only pushes need them) */
  requireAuthForRead?: boolean;
}

export interface CreateRepoOptions {
  /** files (path → content) of an initial commit on `branch`; no commit when absent */
  initialFiles?: Record<string, string>;
  branch?: 'main';
}

export interface GitServer {
  /** http://127.0.0.1:PORT/NAME.git */
  url(repoName: string): string;
  root: string;
  /** `git init --bare` of `<root>/<name>.git`, optionally with an initial commit; resolves with its path */
  createBareRepo(name: string, opts?: CreateRepoOptions): Promise<string>;
  setCredentials(user: string, password: string): void;
  setDown(down: boolean): void;
  /** called for every request the server answers (e.g. to count receive-pack requests); undefined: none */
  onRequest?: (req: { method: string; path: string; query: string }) => void;
  stop(): Promise<void>;
}

function parseAuthorization(header: string | undefined, password: string): string | undefined {
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString();
    const i = decoded.indexOf(':');
    return i < 0 ? undefined : `${decoded.slice(0, i)}\n${decoded.slice(i + 1)}`;
  }
  if (header?.startsWith('Bearer ') && header.slice(7) === password) return 'bearer';
  return undefined;
}

export async function startGitServer(opts: GitServerOptions = {}): Promise<GitServer> {
  const ownRoot = !opts.root;
  const root = opts.root ?? (await mkdtemp(path.join(os.tmpdir(), 'gitserver-')));
  await mkdir(root, { recursive: true });
  let user = opts.user ?? 'git';
  let password = opts.password ?? 'secret';
  let down = false;

  const server = http.createServer((req, res) => {
    if (down) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    handle.onRequest?.({ method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1) });
    const isPush = url.searchParams.get('service') === 'git-receive-pack' || url.pathname.endsWith('/git-receive-pack');
    const credential = parseAuthorization(req.headers.authorization, password);
    const authenticated = credential === 'bearer' || credential === `${user}\n${password}`;
    if ((isPush || opts.requireAuthForRead) && !authenticated) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' });
      res.end();
      return;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...GIT_ENV,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        // http-backend enables receive-pack only for an authenticated user.
        REMOTE_USER: authenticated ? user : '',
        REMOTE_ADDR: req.socket.remoteAddress ?? '',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    cgi.stdin.on('error', () => {}); // the CGI may exit before reading all input (e.g. 404)
    let outputDone = false;
    res.on('close', () => {
      if (!outputDone) cgi.kill(); // the client went away mid-request
    });
    cgi.on('error', () => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });

    // CGI output: headers ("Status: 200 OK", "Content-Type: …") up to a blank line, then the body.
    let head: Buffer | undefined = Buffer.alloc(0);
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (!head) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
      head = undefined;
    });
    cgi.stdout.on('end', () => {
      outputDone = true;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const handle: GitServer = {
    root,
    url: (name) => `http://127.0.0.1:${port}/${name}.git`,
    async createBareRepo(name, { initialFiles, branch = 'main' } = {}) {
      const repo = path.join(root, `${name}.git`);
      await git(root, 'init', '--quiet', '--bare', '-b', branch, repo);
      if (initialFiles) {
        const work = await mkdtemp(path.join(os.tmpdir(), 'gitserver-work-'));
        try {
          await git(work, 'init', '--quiet', '-b', branch);
          for (const [file, content] of Object.entries(initialFiles)) {
            await mkdir(path.dirname(path.join(work, file)), { recursive: true });
            await writeFile(path.join(work, file), content);
          }
          await git(work, 'add', '-A');
          await git(work, 'commit', '--quiet', '-m', 'Initial commit');
          await git(work, 'push', '--quiet', repo, branch);
        } finally {
          await rm(work, { recursive: true, force: true });
        }
      }
      return repo;
    },
    setCredentials(u, p) {
      user = u;
      password = p;
    },
    setDown(d) {
      down = d;
      if (d) server.closeAllConnections(); // idle keep-alive sockets would otherwise still work
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownRoot) await rm(root, { recursive: true, force: true });
    },
  };
  return handle;
}

/**
 * Two local bare repositories in `dir`, `cat.git` (a catalog) and `deploy.git` (a deployment
 * repository), a work tree of the catalog on `main` to write and tag packages with the git CLI,
 * and the Repository objects that register both (sync every 5 minutes: the tests ask for syncs).
 */
export async function localCatalogAndDeploy(dir: string): Promise<{ catalogWC: string; repositories: string }> {
  for (const name of ['cat', 'deploy']) await git(dir, 'init', '-q', '--bare', '-b', 'main', `${name}.git`);
  const catalogWC = path.join(dir, 'cat-wc');
  await git(dir, 'clone', '-q', path.join(dir, 'cat.git'), catalogWC);
  await git(catalogWC, 'checkout', '-q', '-b', 'main');
  const repositories =
    `apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {name: cat}\nspec: {git: {url: ${path.join(dir, 'cat.git')}}, sync: {period: 5m}}\n---\n` +
    `apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {name: deploy}\nspec: {deployment: true, git: {url: ${path.join(dir, 'deploy.git')}}, sync: {period: 5m}}\n`;
  return { catalogWC, repositories };
}
