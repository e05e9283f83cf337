/**
 * A file as it was when a dataset was listed (size, modification time, inode), and the check that
 * it is still that file when it is read. Row counts, byte ranges and shard boundaries are computed
 * from the listing; a file rewritten, truncated, replaced or removed in between would make a reader
 * return rows of another file, or a shard read another shard's rows, without noticing.
 */
import { stat, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { AstrospecError } from '../errors.js';

export interface FileIdentity {
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
}

function identityOf(s: Stats): FileIdentity {
  return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, dev: s.dev };
}

function missing(path: string, error: unknown, when: string): AstrospecError {
  const e = error as NodeJS.ErrnoException;
  const gone = e.code === 'ENOENT';
  return new AstrospecError('IO', gone ? `no such file${when}` : e.message, { file: path }, { cause: error });
}

/** The identity of `path` now (IO error naming it when it can't be read). */
export async function fileIdentity(path: string): Promise<FileIdentity> {
  try {
    return identityOf(await stat(path));
  } catch (error) {
    throw missing(path, error, '');
  }
}

/**
 * Throws IO naming the file when it is no longer what `listed` describes: removed, replaced by
 * another file, or changed in size or modification time. With `fh`, the open handle is checked
 * (the file actually being read), else the path.
 */
export async function checkUnchanged(path: string, listed: FileIdentity, fh?: FileHandle): Promise<void> {
  let now: FileIdentity;
  try {
    now = identityOf(fh ? await fh.stat() : await stat(path));
  } catch (error) {
    throw missing(path, error, ': it was removed after the dataset was listed');
  }
  if (now.dev !== listed.dev || now.ino !== listed.ino) {
    throw new AstrospecError('IO', 'was replaced by another file after the dataset was listed; list the dataset again (re-run the command)', { file: path });
  }
  if (now.size !== listed.size || now.mtimeMs !== listed.mtimeMs) {
    const when = (ms: number) => new Date(ms).toISOString();
    throw new AstrospecError(
      'IO',
      `changed after the dataset was listed (${listed.size} bytes, modified ${when(listed.mtimeMs)}; now ${now.size} bytes, modified ${when(now.mtimeMs)}); re-run on the finished file`,
      { file: path },
    );
  }
}
