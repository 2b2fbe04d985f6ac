/**
 * Which sink a command uses: JSON lines with `--json` (everything on stdout); live on a terminal outside
 * CI (and not TERM=dumb); plain lines otherwise (CI logs, pipes). As aws-cdk, the live display only on a TTY
 * and not in CI. `rotate plan` passes `json: false` always: its `--json` is the plan document on stdout.
 */
import type { EventSink } from '../types.js';
import { JsonLinesSink } from './json-lines.js';
import { PlainSink } from './plain.js';
import type { InputStream, OutputStream } from './stream.js';
import { TtySink } from './tty.js';

export interface SelectSinkOptions {
  json: boolean;
  /** Is the progress stream (stderr) a terminal? Default: stderr.isTTY. */
  isTTY?: boolean;
  /** Running in CI? Default: detectCi(process.env). */
  ci?: boolean;
  /** A terminal that cannot move the cursor (TERM=dumb)? Default: from process.env. */
  dumb?: boolean;
  autoApprove?: boolean;
  verbose?: boolean;
  stdout?: OutputStream;
  stderr?: OutputStream;
  stdin?: InputStream;
}

/** CI=true/1/anything but false/0, as most CI services set it. */
export function detectCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

export function selectSink(opts: SelectSinkOptions): EventSink {
  const out = opts.stdout ?? process.stdout;
  const err = opts.stderr ?? process.stderr;
  const autoApprove = opts.autoApprove ?? false;
  if (opts.json) return new JsonLinesSink({ out, autoApprove });
  const isTTY = opts.isTTY ?? Boolean(err.isTTY);
  const ci = opts.ci ?? detectCi();
  const dumb = opts.dumb ?? process.env.TERM === 'dumb';
  if (isTTY && !ci && !dumb) {
    return new TtySink({
      out,
      err: {
        write: (s) => err.write(s),
        isTTY: true,
        get columns() {
          return err.columns;
        },
      },
      input: opts.stdin ?? process.stdin,
      autoApprove,
      verbose: opts.verbose ?? false,
    });
  }
  return new PlainSink({ out, err, autoApprove, verbose: opts.verbose ?? false });
}
