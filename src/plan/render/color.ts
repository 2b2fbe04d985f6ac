/**
 * Colour for a plan shown on a terminal: diff additions green, removals red, hunk headers cyan, step
 * headers bold, verdicts by severity. Only where the caller says colour is wanted (colorWanted: a
 * terminal, NO_COLOR unset, TERM not `dumb`); the text is otherwise unchanged, so nothing parses colour.
 */
const SGR = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
} as const;

function paint(line: string, ...codes: string[]): string {
  return `${codes.join('')}${line}${SGR.reset}`;
}

const VERDICT_COLOR: Record<string, string> = {
  safe: SGR.green,
  'safe-with-announced-disruption': SGR.yellow,
  unsafe: SGR.red,
};

export function colorizePlanText(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      // Per-node config diffs are indented six spaces (render/human.ts).
      if (/^ {6}@@/.test(line)) return paint(line, SGR.cyan);
      if (/^ {6}\+/.test(line)) return paint(line, SGR.green);
      if (/^ {6}-/.test(line)) return paint(line, SGR.red);
      if (line.startsWith('> step ')) return paint(line, SGR.bold);
      const verdict = /^(Verdict| {2}proof): (safe-with-announced-disruption|safe|unsafe)\b/.exec(line);
      if (verdict) return paint(line, VERDICT_COLOR[verdict[2]!]!);
      return line;
    })
    .join('\n');
}

/** https://no-color.org: any non-empty NO_COLOR turns colour off; so does a non-terminal or TERM=dumb. */
export function colorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
}
