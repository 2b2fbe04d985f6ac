import t from 'tap';
import { gunzipSync, gzipSync } from 'node:zlib';
import { RotateError } from '../../src/domain/errors.js';
import { createKubeconfigArchive, extractKubeconfigArchive } from '../../src/talos/kubeconfig-archive.js';

const YAML = `apiVersion: v1
kind: Config
clusters:
  - name: talos-default
    cluster:
      server: https://10.5.0.1:6443
      certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2c9PQ==
contexts: []
`;

/**
 * A ustar header built independently from the one in the module, field by field (POSIX 1003.1-1988), with
 * the field formatting of Go's archive/tar USTAR writer (zero-padded octal + NUL; checksum 6 digits, NUL, space).
 */
function header(opts: {
  name: string;
  size: number;
  type?: string;
  mode?: number;
  prefix?: string;
  magic?: string;
}): Buffer {
  const h = Buffer.alloc(512);
  const put = (offset: number, len: number, text: string) => h.write(text.slice(0, len), offset, 'latin1');
  const oct = (offset: number, len: number, n: number) => put(offset, len, n.toString(8).padStart(len - 1, '0') + '\0');
  put(0, 100, opts.name);
  oct(100, 8, opts.mode ?? 0o600);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, opts.size);
  oct(136, 12, 1_700_000_000);
  put(156, 1, opts.type ?? '0');
  put(257, 8, opts.magic ?? 'ustar\u000000');
  oct(329, 8, 0); // devmajor: Go's USTAR writer fills these too
  oct(337, 8, 0); // devminor
  if (opts.prefix) put(345, 155, opts.prefix);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

t.test('reads what Talos sends: one header + data, no padding, no end-of-archive blocks', async (t) => {
  const data = Buffer.from(YAML);
  t.equal(
    extractKubeconfigArchive(gzipSync(Buffer.concat([header({ name: 'kubeconfig', size: data.length }), data]))),
    YAML,
  );
});

t.test('reads complete archives too (padding and two zero blocks, as tar(1) writes)', async (t) => {
  const data = Buffer.from(YAML);
  const tar = Buffer.concat([
    header({ name: 'kubeconfig', size: data.length }),
    data,
    pad(data.length),
    Buffer.alloc(1024),
  ]);
  t.equal(extractKubeconfigArchive(gzipSync(tar)), YAML);
});

t.test('writer produces exactly what Go archive/tar writes for Talos, and round-trips', async (t) => {
  const now = new Date('2023-11-14T22:13:20.400Z');
  const gz = createKubeconfigArchive(YAML, now);
  const tar = gunzipSync(gz);
  t.equal(tar.length, 512 + Buffer.byteLength(YAML), 'no padding, no end-of-archive blocks');
  const h = tar.subarray(0, 512);
  const field = (o: number, l: number) => h.subarray(o, o + l).toString('latin1');
  t.equal(field(0, 11), 'kubeconfig\0');
  t.equal(field(100, 8), '0000600\0', 'mode 0600');
  t.equal(field(108, 8), '0000000\0');
  t.equal(field(116, 8), '0000000\0');
  t.equal(field(124, 12), Buffer.byteLength(YAML).toString(8).padStart(11, '0') + '\0');
  t.equal(field(136, 12), (1_700_000_000).toString(8).padStart(11, '0') + '\0', 'mtime rounded to seconds');
  t.equal(field(156, 1), '0', 'regular file');
  t.equal(field(257, 8), 'ustar\u000000');
  t.equal(field(329, 16), '0000000\u00000000000\u0000', 'devmajor/devminor');
  // Same bytes as the independent header builder above.
  t.same([...h], [...header({ name: 'kubeconfig', size: Buffer.byteLength(YAML) })]);
  t.equal(extractKubeconfigArchive(gz), YAML);
  t.equal(extractKubeconfigArchive(createKubeconfigArchive('')), '', 'an empty file is still one file');
});

t.test('rejects anything but exactly one regular file named kubeconfig', async (t) => {
  const data = Buffer.from(YAML);
  const reject = (gz: Uint8Array, re: RegExp, name: string) => {
    let err: unknown;
    try {
      extractKubeconfigArchive(gz);
    } catch (e) {
      err = e;
    }
    t.ok(RotateError.is(err), `${name}: RotateError`);
    t.equal((err as RotateError).code, 'TALOS_KUBECONFIG_ARCHIVE', `${name}: code`);
    t.match((err as RotateError).message, re, name);
  };
  reject(new Uint8Array(), /empty/, 'empty');
  reject(Buffer.from('not gzip at all'), /not valid gzip/, 'not gzip');
  reject(gzipSync(Buffer.from('short')), /shorter than one 512-byte header/, 'short');
  reject(gzipSync(Buffer.alloc(1024)), /holds no file/, 'only zero blocks');
  const bad = header({ name: 'kubeconfig', size: data.length });
  bad[0] = 0x4b; // 'K' without fixing the checksum
  reject(gzipSync(Buffer.concat([bad, data])), /checksum/, 'checksum');
  reject(
    gzipSync(Buffer.concat([header({ name: 'other', size: data.length }), data])),
    /"other" instead of "kubeconfig"/,
    'wrong name',
  );
  reject(gzipSync(Buffer.concat([header({ name: 'kubeconfig', size: 0, type: '5' })])), /type '5'/, 'directory');
  reject(gzipSync(Buffer.concat([header({ name: 'kubeconfig', size: 0, type: '2' })])), /type '2'/, 'symlink');
  reject(gzipSync(Buffer.concat([header({ name: 'PaxHeaders/kubeconfig', size: 0, type: 'x' })])), /PAX/, 'pax header');
  reject(
    gzipSync(Buffer.concat([header({ name: 'kubeconfig', size: data.length, prefix: 'etc' }), data])),
    /"etc\/kubeconfig"/,
    'prefixed name',
  );
  reject(
    gzipSync(Buffer.concat([header({ name: 'kubeconfig', size: data.length }), data.subarray(0, 10)])),
    /cut short/,
    'truncated',
  );
  const second = header({ name: 'extra', size: 3 });
  reject(
    gzipSync(
      Buffer.concat([
        header({ name: 'kubeconfig', size: data.length }),
        data,
        pad(data.length),
        second,
        Buffer.from('abc'),
      ]),
    ),
    /more than the one file/,
    'two files',
  );
  reject(
    gzipSync(Buffer.concat([header({ name: 'kubeconfig', size: 2 }), Buffer.from([0xc3, 0x28])])),
    /not UTF-8/,
    'binary content',
  );
});
