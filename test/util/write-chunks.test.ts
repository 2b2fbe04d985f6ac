/**
 * writeChunks writes a file from many chunks with writev, which may stop short anywhere (inside a chunk or
 * after several): every byte lands once, in order, and a write that makes no progress fails with EIO instead
 * of looping.
 */
import t from 'tap';
import { writeChunks } from '../../src/util/atomic-file.js';

/** A handle whose writev takes at most `cap(call)` bytes per call, appending what it takes to `out`. */
function cappedHandle(cap: (call: number) => number) {
  const out: number[] = [];
  let calls = 0;
  return {
    out,
    calls: () => calls,
    writev: async (buffers: Uint8Array[]) => {
      let room = cap(calls++);
      let bytesWritten = 0;
      for (const b of buffers) {
        const take = Math.min(room, b.byteLength);
        out.push(...b.subarray(0, take));
        bytesWritten += take;
        room -= take;
        if (room === 0) break;
      }
      return { bytesWritten };
    },
  };
}

t.test('every byte once and in order, whatever each writev takes', async (t) => {
  // A state in progress: thousands of small chunks (text between placeholders), some empty, some large.
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    chunks.push(Buffer.from(i % 7 === 0 ? '' : `,\n        part ${i}`));
    if (i % 500 === 0) chunks.push(Buffer.alloc(70_000, i % 251));
  }
  const expected = Buffer.concat(chunks);
  for (const [label, cap] of [
    ['all at once', () => Infinity],
    ['one byte at a time at first, then more', (call: number) => (call < 50 ? 1 : 4096)],
    ['odd sizes that end inside chunks', (call: number) => 1 + ((call * 7919) % 9000)],
  ] as const) {
    const handle = cappedHandle(cap);
    await writeChunks(handle, chunks);
    t.ok(Buffer.from(handle.out).equals(expected), `${label}: the bytes of the chunks, in order`);
  }
});

t.test('a writev that takes nothing fails with EIO', async (t) => {
  const handle = cappedHandle((call) => (call === 0 ? 5 : 0));
  await t.rejects(writeChunks(handle, [Buffer.from('abcdefgh'), Buffer.from('ij')]), { code: 'EIO' });
  t.equal(handle.calls(), 2, 'no loop');
});
