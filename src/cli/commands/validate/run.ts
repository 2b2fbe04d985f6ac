import {
  DesiredStateError,
  formatDiagnostic,
  validateDesiredFile,
  type DesiredApi,
  type DesiredState,
} from '../../../desired/index.js';
import { shortFingerprint } from '../../../domain/types.js';
import { printDiagnostic, printJson, printResult } from '../../output.js';

function describeApi(api: DesiredApi): string {
  const issuing =
    `issuing ${api.issuing.name} (${api.issuing.certificate.algorithm}, ` +
    `${shortFingerprint(api.issuing.certificate.fingerprint)})`;
  const accepted = api.accepted.length
    ? api.accepted.map((a) => `${a.name} (${shortFingerprint(a.certificate.fingerprint)})`).join(', ')
    : 'none';
  return `${issuing}; also accepted: ${accepted}`;
}

function summary(file: string, state: DesiredState): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return [
    `${file} is valid`,
    `  talos       ${state.talos ? describeApi(state.talos) : 'not managed'}`,
    `  kubernetes  ${state.kubernetes ? describeApi(state.kubernetes) : 'not managed'}`,
    `  nodes       ${plural(state.cluster.controlPlanes.length, 'control plane')}, ` +
      plural(state.cluster.workers.length, 'worker'),
  ].join('\n');
}

/**
 * `rotate validate [-f FILE] [--json]`: results on stdout, warnings on stderr; an invalid file ends in one
 * DESIRED_INVALID error listing every problem (exit 1). Nothing is written anywhere.
 */
export async function runValidate(args: { file: string; json: boolean }): Promise<void> {
  const result = await validateDesiredFile(args.file, { env: process.env });
  if (args.json) {
    printJson({ valid: result.valid, file: result.file, errors: result.errors, warnings: result.warnings });
    if (!result.valid) process.exitCode = 1;
    return;
  }
  for (const w of result.warnings) printDiagnostic(formatDiagnostic(w, { severityPrefix: true }));
  if (!result.valid || !result.state) throw new DesiredStateError(result.file, result.errors, result.warnings);
  printResult(summary(result.file, result.state));
}
