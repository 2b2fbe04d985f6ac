/** Where command results go: results on stdout, diagnostics on stderr (so `--json` output stays parseable). */
export function printResult(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printDiagnostic(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}
