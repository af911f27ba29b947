// The file system handed to isomorphic-git: node:fs/promises, with one difference. isomorphic-git
// wraps the `fs` of every call anew and, to learn whether it is promise-based, calls
// `readFile()` without arguments twice; Node answers with an ERR_INVALID_ARG_TYPE error whose
// construction (a stack trace, a formatted message) cost more than the object read itself. Here
// that probe gets a resolved promise at once; every real call goes to node:fs/promises.
import { promises as fsp } from 'node:fs';

type ReadFile = typeof fsp.readFile;

export const gitFs = {
  readFile: ((...args: unknown[]) => (args.length === 0 ? Promise.resolve(undefined) : (fsp.readFile as (...a: unknown[]) => Promise<unknown>)(...args))) as ReadFile,
  writeFile: fsp.writeFile,
  mkdir: fsp.mkdir,
  rmdir: fsp.rmdir,
  unlink: fsp.unlink,
  stat: fsp.stat,
  lstat: fsp.lstat,
  readdir: fsp.readdir,
  readlink: fsp.readlink,
  symlink: fsp.symlink,
  rm: fsp.rm,
};
