/**
 * The saved plan (`rotate plan --out FILE`, also what `rotate plan --json` prints): the plan document
 * wrapped with what it was made from — tool version, desired-state file and digest, talosconfig context
 * and endpoints — so that `rotate apply FILE` can refuse a plan that no longer matches the world
 * (as Terraform refuses a stale plan), naming what changed. It holds fingerprints and redacted diffs,
 * never a key: keys are referenced by the desired state and read again at apply time.
 */
import { RotateError } from '../../domain/errors.js';
import type { Plan } from '../../plan/model/index.js';
import { parsePlanDocument } from '../../plan/render/json.js';
import { readTextFile, writeFileAtomic } from '../../util/atomic-file.js';
import { TOOL_VERSION } from '../../version.js';
import type { LiveNode } from '../observe-cluster.js';
import type { Session } from './open-session.js';

export const SAVED_PLAN_KIND = 'talos-rotate/plan';
export const SAVED_PLAN_VERSION = 1;

export interface SavedPlan {
  kind: typeof SAVED_PLAN_KIND;
  savedPlanVersion: typeof SAVED_PLAN_VERSION;
  toolVersion: string;
  createdAt: string;
  desired: { file: string; digest: string };
  cluster: { talosconfig: string; context: string; endpoints: string[] };
  plan: Plan;
}

export function savedPlanOf(session: Session, plan: Plan, now: Date = new Date()): SavedPlan {
  return {
    kind: SAVED_PLAN_KIND,
    savedPlanVersion: SAVED_PLAN_VERSION,
    toolVersion: TOOL_VERSION,
    createdAt: now.toISOString(),
    desired: { file: session.desired.file, digest: session.desired.digest },
    cluster: {
      talosconfig: session.desired.cluster.talosconfig,
      context: session.context.name,
      endpoints: session.endpoints,
    },
    plan,
  };
}

export function renderSavedPlan(saved: SavedPlan): string {
  return `${JSON.stringify(saved, null, 2)}\n`;
}

/** Written like a secret (0600, atomic) although it holds none: it describes the cluster's PKI. */
export async function writeSavedPlan(path: string, saved: SavedPlan): Promise<void> {
  await writeFileAtomic(path, renderSavedPlan(saved), { mode: 0o600 });
}

const PLAN_FILE_HINT = 'pass the file written by `rotate plan --out FILE`';

export async function readSavedPlan(path: string): Promise<SavedPlan> {
  const text = await readTextFile(path, 'PLAN_FILE_READ', `the plan file ${path}`, PLAN_FILE_HINT);
  let doc: Partial<SavedPlan>;
  try {
    doc = JSON.parse(text) as Partial<SavedPlan>;
  } catch {
    throw new RotateError('PLAN_FILE_INVALID', `${path} is not a saved plan (not JSON)`, {
      hint: PLAN_FILE_HINT,
    });
  }
  if (doc.kind !== SAVED_PLAN_KIND) {
    throw new RotateError('PLAN_FILE_INVALID', `${path} is not a saved plan (kind ${JSON.stringify(doc.kind)})`, {
      hint: PLAN_FILE_HINT,
    });
  }
  if (doc.savedPlanVersion !== SAVED_PLAN_VERSION) {
    throw new RotateError(
      'PLAN_FILE_VERSION',
      `${path} has savedPlanVersion ${JSON.stringify(doc.savedPlanVersion)}; ` +
        `this talos-rotate reads ${SAVED_PLAN_VERSION}`,
      {
        hint: 'make a new plan with this version of talos-rotate',
      },
    );
  }
  const plan = parsePlanDocument(JSON.stringify(doc.plan), path);
  if (typeof doc.toolVersion !== 'string' || !doc.desired || !doc.cluster) {
    throw new RotateError('PLAN_FILE_INVALID', `${path} is incomplete`, {
      hint: 'the file was edited or truncated; make a new plan',
    });
  }
  return { ...(doc as SavedPlan), plan };
}

/**
 * Why a saved plan no longer describes the world, or [] when it still does: another tool version, an
 * edited desired-state file, other endpoints, a node whose identity or machine config changed.
 */
export function staleReasons(saved: SavedPlan, session: Session, live: LiveNode[]): string[] {
  const reasons: string[] = [];
  if (saved.toolVersion !== TOOL_VERSION)
    reasons.push(`it was made by talos-rotate ${saved.toolVersion}; this is ${TOOL_VERSION}`);
  if (saved.desired.file !== session.desired.file)
    reasons.push(`it was made from ${saved.desired.file}, not ${session.desired.file}`);
  else if (saved.desired.digest !== session.desired.digest)
    reasons.push(`${session.desired.file} changed since the plan was made`);
  const planned = saved.plan.basedOn.nodes;
  const liveBy = new Map(live.map((n) => [n.address, n]));
  for (const p of planned) {
    const n = liveBy.get(p.address);
    if (!n) {
      reasons.push(`node ${p.address} is no longer listed`);
      continue;
    }
    if (n.nodeId !== p.nodeId)
      reasons.push(`node ${p.address} is another machine now (node id ${p.nodeId} → ${n.nodeId})`);
    else if (n.configDigest !== p.configDigest)
      reasons.push(
        `the machine config of node ${p.address} changed since the plan (digest ${p.configDigest.slice(0, 12)} ` +
          `→ ${n.configDigest.slice(0, 12)})`,
      );
  }
  for (const n of live)
    if (!planned.some((p) => p.address === n.address))
      reasons.push(`node ${n.address} is listed now but was not when the plan was made`);
  return reasons;
}

export function staleError(path: string, reasons: string[]): RotateError {
  return new RotateError(
    'PLAN_STALE',
    `the saved plan ${path} is stale:\n${reasons.map((r) => `  - ${r}`).join('\n')}`,
    {
      hint: 'make a new plan (`rotate plan --out FILE`) and review it; nothing was changed',
    },
  );
}
