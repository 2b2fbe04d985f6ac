import * as path from 'node:path';
import { RotateError } from '../../../domain/errors.js';
import { summarizeCertificateValue } from '../../../pki/index.js';
import { planTextWidth, renderPlanText } from '../../../plan/render/human.js';
import { refuseIfRefused } from '../../../plan/planner/index.js';
import { renderPlanSummary } from '../../../plan/render/summary.js';
import { colorizePlanText, colorWanted } from '../../../plan/render/color.js';
import {
  buildPlan,
  diagnosticWarning,
  noSecretsBundleWarning,
  relevantDesiredWarnings,
  type PlanWarning,
} from '../../../cluster/session/build-plan.js';
import { parseDuration } from '../../../state/index.js';
import { openSession, type Session } from '../../../cluster/session/open-session.js';
import { connectTalos } from '../../../talos/talos-api.js';
import { renderSavedPlan, savedPlanOf, writeSavedPlan } from '../../../cluster/session/saved-plan.js';
import { makeEvent, selectSink, type EventSink, type OutputStream } from '../../../events/index.js';
import type { PlanArgs } from './command.js';
import { clusterOverridesOf } from '../../options/cluster.js';
import { planProgressEvents } from './progress.js';

/** Where `rotate plan` reads and reports; the CLI's defaults, replaced in tests. */
export interface PlanIo {
  /** Progress, warnings and the saved-plan note (on stderr). Never JSON lines: `--json` is the plan document. */
  sink: EventSink;
  /** The plan document (text, `--summary` Markdown or `--json`), alone. */
  stdout: OutputStream;
  openSession: (args: PlanArgs) => Promise<Session>;
  buildPlan: typeof buildPlan;
}

function defaultIo(): PlanIo {
  return {
    sink: selectSink({ json: false }),
    stdout: process.stdout,
    openSession: (args) => openSession(args.file, connectTalos, clusterOverridesOf(args)),
    buildPlan,
  };
}

/** `rotate plan`: observe, plan, prove, dry-run on every node; print or save. Changes nothing. */
export async function runPlan(args: PlanArgs, io: Partial<PlanIo> = {}): Promise<void> {
  const output = { printed: false };
  const all = { ...defaultIo(), ...io };
  if (!args.json) return planOrThrow(args, output, all);
  // With --json, a failure is a JSON document on stdout too (the human error still goes to stderr), unless
  // the plan document was printed already (a refused plan: its JSON says why): stdout holds one document.
  try {
    await planOrThrow(args, output, all);
  } catch (err) {
    if (!output.printed) printJson(all.stdout, planJsonError(err));
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

async function planOrThrow(args: PlanArgs, output: { printed: boolean }, io: PlanIo): Promise<void> {
  const { sink, stdout } = io;
  const write = (text: string) => stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const warn = (w: PlanWarning) =>
    sink.emit(makeEvent('plan-warning', { warningCode: w.code, text: w.text, hint: w.hint }));
  try {
    const applyLockWaitMs = parseDuration(args['apply-lock-wait'], '--apply-lock-wait');
    const session = await io.openSession(args);
    try {
      const built = await io.buildPlan(session, {
        parallelism: args.parallelism,
        maxUnavailable: args['max-unavailable'],
        allowDisruption: args['allow-disruption'],
        nodeDryRun: args['node-dry-run'],
        findWorkloads: true,
        applyLockWaitMs,
        progress: planProgressEvents(sink),
      });
      for (const w of relevantDesiredWarnings(session.warnings, session.desired, built.nodes))
        warn(diagnosticWarning(w));
      for (const w of built.warnings) warn(w);
      const bundleNote = noSecretsBundleWarning(built.plan, session.desired.cluster.secretsBundle);
      if (bundleNote) warn(bundleNote);
      const saved = savedPlanOf(session, built.plan);
      const { plan } = built;
      output.printed = true;
      if (args.json) write(renderSavedPlan(saved));
      else if (args.summary) stdout.write(renderPlanSummary(plan));
      else {
        const text = renderPlanText(plan, {
          describeCertificate: summarizeCertificateValue,
          applyCommand: applyCommandFor(args),
          width: planTextWidth(stdout),
        });
        write(colorWanted(stdout) ? colorizePlanText(text) : text);
      }

      refuseIfRefused(plan);
      if (args.out) {
        // Written even without changes, so a pipeline can always run `rotate apply FILE` (a no-op then).
        await writeSavedPlan(args.out, saved);
        sink.emit(makeEvent('plan-saved', { path: args.out, applyCommand: applyCommandFor(args) }));
      }
      if (args['detailed-exitcode']) process.exitCode = plan.changes ? 2 : 0;
    } finally {
      session.close();
    }
  } finally {
    // A live progress line still drawn (planning failed mid-phase) is erased before the error is printed.
    sink.close?.();
  }
}

function printJson(out: OutputStream, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** What applies this plan: the saved file after `--out`, else a fresh plan of the same desired-state file. */
export function applyCommandFor(args: Pick<PlanArgs, 'out' | 'file'>): string {
  if (args.out) return `rotate apply ${shellQuote(path.relative(process.cwd(), args.out) || args.out)}`;
  return args.file && args.file !== 'rotate.yaml' ? `rotate apply -f ${shellQuote(args.file)}` : 'rotate apply';
}

function shellQuote(s: string): string {
  return /^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
