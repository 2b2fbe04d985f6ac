import * as path from 'node:path';
import { RotateError } from '../../../domain/errors.js';
import { formatDiagnostic } from '../../../desired/index.js';
import { summarizeCertificateValue } from '../../../pki/index.js';
import { planTextWidth, renderPlanText } from '../../../plan/render/human.js';
import { refuseIfRefused } from '../../../plan/planner/index.js';
import { renderPlanSummary } from '../../../plan/render/summary.js';
import { colorizePlanText, colorWanted } from '../../../plan/render/color.js';
import {
  buildPlan,
  formatPlanWarning,
  noSecretsBundleWarning,
  relevantDesiredWarnings,
} from '../../../cluster/session/build-plan.js';
import { parseDuration } from '../../../state/index.js';
import { openSession } from '../../../cluster/session/open-session.js';
import { connectTalos } from '../../../talos/talos-api.js';
import { renderSavedPlan, savedPlanOf, writeSavedPlan } from '../../../cluster/session/saved-plan.js';
import type { PlanArgs } from './command.js';
import { clusterOverridesOf } from '../../options/cluster.js';
import { printDiagnostic, printJson, printResult } from '../../output.js';
import { planProgress } from './progress.js';

/** `rotate plan`: observe, plan, prove, dry-run on every node; print or save. Changes nothing. */
export async function runPlan(args: PlanArgs): Promise<void> {
  const output = { printed: false };
  if (!args.json) return planOrThrow(args, output);
  // With --json, a failure is a JSON document on stdout too (the human error still goes to stderr), unless
  // the plan document was printed already (a refused plan: its JSON says why): stdout holds one document.
  try {
    await planOrThrow(args, output);
  } catch (err) {
    if (!output.printed) printJson(planJsonError(err));
    throw err;
  }
}

/** The JSON document of a failed `rotate plan --json`: a RotateError's code, or CLI_INTERNAL for anything else. */
export function planJsonError(err: unknown): { error: { code: string; message: string; hint?: string } } {
  const e = RotateError.is(err) ? err : null;
  return {
    error: e
      ? { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }
      : { code: 'CLI_INTERNAL', message: 'internal error (run with ROTATE_DEBUG=1 for details)' },
  };
}

async function planOrThrow(args: PlanArgs, output: { printed: boolean }): Promise<void> {
  const applyLockWaitMs = parseDuration(args['apply-lock-wait'], '--apply-lock-wait');
  const session = await openSession(args.file, connectTalos, clusterOverridesOf(args));
  try {
    const progress = planProgress(process.stderr);
    const built = await buildPlan(session, {
      parallelism: args.parallelism,
      maxUnavailable: args['max-unavailable'],
      allowDisruption: args['allow-disruption'],
      nodeDryRun: args['node-dry-run'],
      findWorkloads: true,
      applyLockWaitMs,
      progress: (p) => progress.update(p),
    }).finally(() => progress.end());
    for (const w of relevantDesiredWarnings(session.warnings, session.desired, built.nodes))
      printDiagnostic(`warning: ${formatDiagnostic(w)}`);
    for (const w of built.warnings) printDiagnostic(formatPlanWarning(w));
    const bundleNote = noSecretsBundleWarning(built.plan, session.desired.cluster.secretsBundle);
    if (bundleNote) printDiagnostic(formatPlanWarning(bundleNote));
    const saved = savedPlanOf(session, built.plan);
    const { plan } = built;
    output.printed = true;
    if (args.json) printResult(renderSavedPlan(saved));
    else if (args.summary) process.stdout.write(renderPlanSummary(plan));
    else {
      const text = renderPlanText(plan, {
        describeCertificate: summarizeCertificateValue,
        applyCommand: applyCommandFor(args),
        width: planTextWidth(process.stdout),
      });
      printResult(colorWanted(process.stdout) ? colorizePlanText(text) : text);
    }

    refuseIfRefused(plan);
    if (args.out) {
      // Written even without changes, so a pipeline can always run `rotate apply FILE` (a no-op then).
      await writeSavedPlan(args.out, saved);
      printDiagnostic(`Saved the plan to ${args.out} (0600). Apply it with: ${applyCommandFor(args)}`);
    }
    if (args['detailed-exitcode']) process.exitCode = plan.changes ? 2 : 0;
  } finally {
    session.close();
  }
}

/** What applies this plan: the saved file after `--out`, else a fresh plan of the same desired-state file. */
export function applyCommandFor(args: Pick<PlanArgs, 'out' | 'file'>): string {
  if (args.out) return `rotate apply ${shellQuote(path.relative(process.cwd(), args.out) || args.out)}`;
  return args.file && args.file !== 'rotate.yaml' ? `rotate apply -f ${shellQuote(args.file)}` : 'rotate apply';
}

function shellQuote(s: string): string {
  return /^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
