/**
 * The archive format of `machine.MachineService/Kubeconfig` (talos-behaviour.md §3.1): a gzip stream holding a tar with
 * exactly one regular file `kubeconfig` (mode 0600). Talos closes the gzip writer but never the tar
 * writer, so there are no end-of-archive blocks and no padding after the file data.
 *
 * The 512-byte ustar header is read and written by hand here: the only tar libraries in node_modules are
 * transitive dependencies of other packages (not ours to rely on), strict readers reject Talos's truncated
 * archive, and a single-entry header is a few dozen lines. Pure functions (no fs/net).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { RotateError } from '../domain/errors.js';

const BLOCK = 512;
const FILE_NAME = 'kubeconfig';
/** Largest archive we accept after decompression (a kubeconfig is a few KiB). */
const MAX_UNCOMPRESSED = 16 * 1024 * 1024;

function archiveError(problem: string, cause?: unknown): RotateError {
  return new RotateError('TALOS_KUBECONFIG_ARCHIVE', `the kubeconfig archive from the node is unusable: ${problem}`, {
    hint:
      'the node answered Kubeconfig with something other than a gzip tar holding one file "kubeconfig"; ' +
      "check the node's Talos version and retry",
    cause,
    source: 'cluster',
  });
}

/** Reads a NUL/space-terminated string field. */
function readString(header: Uint8Array, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return Buffer.from(end === -1 ? field : field.subarray(0, end)).toString('utf8');
}

/** Reads an octal numeric field (NUL/space padded); GNU base-256 sizes are refused (never used here). */
function readOctal(header: Uint8Array, offset: number, length: number, what: string): number {
  const field = header.subarray(offset, offset + length);
  if ((field[0] ?? 0) & 0x80) throw archiveError(`the ${what} field uses the base-256 extension`);
  const text = Buffer.from(field)
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .replace(/^[\0 ]+/g, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw archiveError(`the ${what} field is not an octal number`);
  return parseInt(text, 8);
}

function headerChecksumMatches(header: Uint8Array): boolean {
  const stored = readOctal(header, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/**
 * Extracts the kubeconfig YAML from the bytes Talos streams (all `common.Data` chunks concatenated).
 * Accepts archives with or without padding and end-of-archive blocks; rejects anything that is not exactly
 * one regular file named `kubeconfig`.
 */
export function extractKubeconfigArchive(gz: Uint8Array): string {
  if (gz.length === 0) throw archiveError('it is empty');
  let tar: Buffer;
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_UNCOMPRESSED });
  } catch (err) {
    throw archiveError('it is not valid gzip data', err);
  }
  if (tar.length < BLOCK) throw archiveError(`the tar data is ${tar.length} bytes, shorter than one 512-byte header`);
  const header = tar.subarray(0, BLOCK);
  if (header.every((b) => b === 0)) throw archiveError('the tar archive holds no file');
  if (!headerChecksumMatches(header)) throw archiveError('the tar header checksum does not match (not a tar archive?)');

  const typeflag = String.fromCharCode(header[156] ?? 0);
  const magic = Buffer.from(header.subarray(257, 263)).toString('latin1');
  // Only POSIX ustar has the name prefix field; GNU ("ustar  ") and v7 headers use those bytes otherwise.
  const prefix = magic === 'ustar\0' ? readString(header, 345, 155) : '';
  const baseName = readString(header, 0, 100);
  const name = prefix === '' ? baseName : `${prefix}/${baseName}`;
  if (typeflag !== '0' && typeflag !== '\0') {
    const what =
      typeflag === 'x' || typeflag === 'g'
        ? 'a PAX extended header'
        : typeflag === 'L'
          ? 'a GNU long-name entry'
          : `an entry of type '${typeflag}'`;
    throw archiveError(`its first entry is ${what}, not the regular file "${FILE_NAME}"`);
  }
  if (name !== FILE_NAME) throw archiveError(`it holds ${JSON.stringify(name)} instead of "${FILE_NAME}"`);

  const size = readOctal(header, 124, 12, 'size');
  const dataEnd = BLOCK + size;
  if (tar.length < dataEnd) throw archiveError(`the file is cut short (${tar.length - BLOCK} of ${size} bytes)`);

  // Whatever follows the data (nothing from Talos; padding and end-of-archive blocks from other writers)
  // must be zeros; anything else is a second entry.
  const rest = tar.subarray(dataEnd);
  if (!rest.every((b) => b === 0)) throw archiveError(`it holds more than the one file "${FILE_NAME}"`);

  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(tar.subarray(BLOCK, dataEnd));
  } catch (err) {
    throw archiveError('the kubeconfig is not UTF-8 text', err);
  }
}

/** Writes `value` as a zero-padded octal string of `length - 1` digits plus a NUL, as Go's tar writer does. */
function writeOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length > length - 1) throw new RangeError(`tar field too small for ${value}`);
  header.set(Buffer.from(digits + '\0', 'latin1'), offset);
}

/**
 * Produces what a Talos node sends for Kubeconfig: gzip of one ustar header (regular file `kubeconfig`,
 * mode 0600, uid/gid 0, mtime `now`) followed by the data, with no padding and no end-of-archive blocks.
 * The header matches Go's archive/tar USTAR output field for field.
 */
export function createKubeconfigArchive(yaml: string, now: Date = new Date()): Uint8Array {
  const data = Buffer.from(yaml, 'utf8');
  const header = new Uint8Array(BLOCK);
  header.set(Buffer.from(FILE_NAME, 'latin1'), 0); // name[100]
  writeOctal(header, 100, 8, 0o600); // mode
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, data.length); // size
  writeOctal(header, 136, 12, Math.round(now.getTime() / 1000)); // mtime (Go rounds to seconds)
  header[156] = 0x30; // typeflag '0' (regular file)
  header.set(Buffer.from('ustar\0' + '00', 'latin1'), 257); // magic + version
  writeOctal(header, 329, 8, 0); // devmajor
  writeOctal(header, 337, 8, 0); // devminor
  // Checksum: sum of all bytes with the checksum field read as spaces, written as 6 octal digits, NUL, space.
  header.fill(0x20, 148, 156);
  const sum = header.reduce((acc, b) => acc + b, 0);
  writeOctal(header, 148, 7, sum);
  header[155] = 0x20;
  return gzipSync(Buffer.concat([header, data]));
}
