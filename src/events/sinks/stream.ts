/** What sinks write to: process.stdout/stderr, or a fake in tests. */
export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** What a terminal sink reads answers from. */
export type InputStream = NodeJS.ReadableStream & { isTTY?: boolean };
