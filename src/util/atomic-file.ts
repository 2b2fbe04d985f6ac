import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { RotateError } from '../domain/errors.js';

export interface AtomicWriteOptions {
  /** File mode of the result; defaults to 0600 because most of what we write is sensitive. */
  mode?: number;
  /** Refuse to replace an existing file. The check and the rename are one atomic link(2). */
  exclusive?: boolean;
}

/**
 * Write a file so that a crash at any instant leaves either the old content or the new, never a torn
 * file: the data goes to a temp file created with the final mode (so a secret is never briefly readable),
 * is fsynced, renamed over the target, and the directory is fsynced so the rename itself is durable.
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
  try {
    if (Array.isArray(data)) await writeChunks(handle, data);
    else await handle.writeFile(data as string | Uint8Array);
    // The umask may have narrowed the create mode; set it exactly.
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (options.exclusive) {
      // link(2) fails with EEXIST instead of replacing: no window where two writers both "win".
      await fs.link(tmp, target);
      await fs.unlink(tmp);
    } else {
      await fs.rename(tmp, target);
    }
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/** What writeChunks needs of a file handle (fs.FileHandle's writev). */
export interface VectorWriter {
  writev(buffers: Uint8Array[]): Promise<{ bytesWritten: number }>;
}

/** The chunks one after the other, without joining them first (a state is written from its cached parts). */
export async function writeChunks(handle: VectorWriter, chunks: readonly Uint8Array[]): Promise<void> {
  let rest = chunks.filter((c) => c.byteLength > 0);
  while (rest.length > 0) {
    let { bytesWritten } = await handle.writev(rest);
    // writev may stop short: go on from the first byte not written (a write that makes no progress fails).
    if (bytesWritten === 0)
      throw Object.assign(new Error('the file system accepted none of the bytes written'), { code: 'EIO' });
    // One pass over the chunks written (a state in progress is a few thousand chunks).
    let done = 0;
    while (done < rest.length && bytesWritten >= rest[done]!.byteLength) bytesWritten -= rest[done++]!.byteLength;
    rest = rest.slice(done);
    if (rest.length > 0 && bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
  }
}

/** fsync a directory so that a rename or create inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fs.open(dir, fsConstants.O_RDONLY);
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

/** Create a directory (and parents) with a private mode if it does not exist yet. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Whether anything (file, folder, dangling link) is at `p`; lstat, so a link is not followed. */
export async function pathExists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** A UTF-8 file's text. One that cannot be read is RotateError(code, `cannot read WHAT: ERRNO`, { hint }). */
export async function readTextFile(file: string, code: string, what: string, hint: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new RotateError(code, `cannot read ${what}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { hint });
  }
}
