/**
 * Loading a desired-state file: YAML with positions → JSON Schema → checks across fields → CA material and
 * cluster files → the DesiredState the planner consumes. Every problem found on the way is reported at its
 * line and column, all at once.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';

import type { ApiKind, NodeAddress } from '../domain/types.js';
import { asNodeAddress } from '../domain/types.js';
import { checkClusterFiles, resolveClusterFiles, type AuthorityPaths } from './cluster-material.js';
import {
  DesiredStateError,
  error,
  formatField,
  sortDiagnostics,
  toPointer,
  warning,
  type Finding,
  type Segment,
} from './diagnostics.js';
import { gitKeyExposure, type KeyHoldingFile } from './git-exposure.js';
import { checkAuthority, newMaterialContext } from './material.js';
import { defaultStatePath } from '../state/paths.js';
import { schemaErrors } from './schema.js';
import { translateSchemaErrors } from './schema-errors.js';
import { checkSemantics, sharedHint } from './semantic.js';
import { locate, parseSource, type ParsedSource } from './source.js';
import {
  DESIRED_STATE_VERSION,
  type Authority,
  type DesiredApi,
  type DesiredState,
  type Diagnostic,
  type LoadOptions,
  type ValidationResult,
  type WorkloadAction,
  type WorkloadPolicy,
  EVICTABLE_KINDS,
} from './types.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function startsWith(at: readonly Segment[], prefix: readonly Segment[]): boolean {
  return prefix.length <= at.length && prefix.every((s, i) => String(s) === String(at[i]));
}

function toDiagnostic(
  f: Finding,
  file: string,
  source: ParsedSource | undefined,
  text: string | undefined,
): Diagnostic {
  const pos = text === undefined && !source ? { line: 0, column: 0 } : locate(source, f, text);
  const field = f.field ?? f.at;
  return {
    severity: f.severity,
    code: f.code,
    file,
    line: pos.line,
    column: pos.column,
    path: formatField(field),
    pointer: toPointer(field),
    message: f.message,
    hint: f.hint,
  };
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const k = `${f.severity}|${f.code}|${String(f.field ?? f.at)}|${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function finish(
  file: string,
  findings: Finding[],
  source: ParsedSource | undefined,
  text: string | undefined,
  state?: DesiredState,
): ValidationResult {
  const diagnostics = dedupe(findings).map((f) => toDiagnostic(f, file, source, text));
  const errors = sortDiagnostics(diagnostics.filter((d) => d.severity === 'error'));
  const warnings = sortDiagnostics(diagnostics.filter((d) => d.severity === 'warning'));
  const valid = errors.length === 0 && state !== undefined;
  return { file, valid, errors, warnings, ...(valid ? { state } : {}) };
}

/**
 * Check a desired-state file offline (schema, references, CA material, cluster files) without throwing for
 * problems in it: every error and warning comes back as a Diagnostic, and the state when it is valid.
 */
export async function validateDesiredFile(file: string, opts: LoadOptions = {}): Promise<ValidationResult> {
  const shown = opts.displayName ?? file;
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  const env = opts.env ?? process.env;
  const home = opts.home ?? env.HOME ?? homedir();
  const now = opts.now ?? new Date();

  let bytes: Buffer;
  try {
    bytes = await fs.readFile(absolute);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const hint =
      code === 'ENOENT'
        ? 'pass the desired-state file with -f FILE (default: rotate.yaml in the current folder); ' +
          'examples/ has templates'
        : code === 'EISDIR'
          ? 'pass the file, not its folder'
          : 'check the file permissions';
    return finish(shown, [error('DESIRED_READ', [], `cannot read the file (${code})`, hint)], undefined, undefined);
  }
  const text = bytes.toString('utf8');
  const digest = createHash('sha256').update(bytes).digest('hex');

  const parsed = parseSource(text);
  if (!parsed.source) return finish(shown, parsed.findings, undefined, text);
  const source = parsed.source;
  const data = source.data;
  const findings: Finding[] = [...parsed.findings];

  // Schema. Fields already reported as inline keys are not reported again.
  const alreadyReported = parsed.findings.filter((f) => f.code === 'DESIRED_INLINE_KEY').map((f) => f.at);
  const schemaFindings = translateSchemaErrors(schemaErrors(data), data, alreadyReported);
  findings.push(...schemaFindings);
  if (schemaFindings.some((f) => f.code === 'DESIRED_BAD_VERSION')) return finish(shown, findings, source, text);
  if (!isObject(data)) return finish(shown, findings, source, text);

  const invalid = [
    ...alreadyReported,
    ...schemaFindings.filter((f) => f.severity === 'error').map((f) => f.field ?? f.at),
  ];
  // A problem at a field taints everything under it; a missing field taints only itself.
  const tainted = (at: Segment[]) => invalid.some((p) => startsWith(at, p));
  /** Some error at, under or above `at`: the whole subtree is not worth checking further. */
  const troubled = (at: Segment[]) => invalid.some((p) => startsWith(at, p) || startsWith(p, at));

  const semantic = checkSemantics(data, invalid);
  findings.push(...semantic.findings);

  // CA material: every authority whose own definition is well-formed.
  const ctx = newMaterialContext({ dir, home, env, now });
  const rawAuthorities = isObject(data.authorities) ? data.authorities : {};
  const authorities: Record<string, Authority> = {};
  const issuingNames = new Set(Object.values(semantic.model.apis).map((a) => a.issuing));
  const checks = Object.entries(rawAuthorities)
    .filter(([name, raw]) => isObject(raw) && !troubled(['authorities', name]))
    .map(async ([name, raw]) => {
      const result = await checkAuthority(name, raw as Record<string, unknown>, ctx, {
        issuing: issuingNames.has(name),
      });
      findings.push(...result.findings);
      if (result.authority) authorities[name] = result.authority;
    });
  await Promise.all(checks);

  findings.push(...crossMaterialFindings(semantic.model, authorities));

  // Cluster files.
  const cluster = isObject(data.cluster) ? data.cluster : undefined;
  let files;
  if (cluster) {
    files = resolveClusterFiles(cluster, ctx);
    const paths: AuthorityPaths[] = Object.entries(authorities).map(([name, a]) => ({
      name,
      issuing: issuingNames.has(name),
      used: semantic.model.references.has(name),
      ...(a.certificateSource.kind !== 'inline'
        ? { certificate: { path: a.certificateSource.path, at: ['authorities', name, 'certificate'] } }
        : {}),
      ...(a.keySource && a.keySource.kind !== 'env'
        ? { key: { path: a.keySource.path, at: ['authorities', name, 'key'] } }
        : {}),
    }));
    findings.push(
      ...(await checkClusterFiles(
        cluster,
        files,
        { kubernetesManaged: isObject(data.kubernetes), authorities: paths, tainted },
        ctx,
      )),
    );
  }

  if (findings.some((f) => f.severity === 'error') || !cluster || !files) return finish(shown, findings, source, text);

  // Everything checked: build the state.
  const api = (kind: ApiKind): DesiredApi | undefined => {
    const refs = semantic.model.apis[kind];
    if (!refs) return undefined;
    const issuing = authorities[refs.issuing]!;
    const seen = new Set([issuing.certificate.fingerprint]);
    const accepted: Authority[] = [];
    for (const name of refs.accepted) {
      const a = authorities[name]!;
      if (seen.has(a.certificate.fingerprint)) continue;
      seen.add(a.certificate.fingerprint);
      accepted.push(a);
    }
    return { issuing, accepted };
  };
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  const state: DesiredState = {
    file: absolute,
    dir,
    digest,
    version: DESIRED_STATE_VERSION,
    cluster: {
      talosconfig: files.talosconfig,
      talosconfigSource: files.talosconfigSource,
      ...(typeof cluster.context === 'string' ? { context: cluster.context } : {}),
      ...(files.kubeconfig && isObject(data.kubernetes) ? { kubeconfig: files.kubeconfig } : {}),
      ...(semantic.model.endpoints ? { endpoints: semantic.model.endpoints } : {}),
      ...(typeof cluster.kubernetesEndpoint === 'string' ? { kubernetesEndpoint: cluster.kubernetesEndpoint } : {}),
      controlPlanes: strings(cluster.controlPlanes).map((a) => asNodeAddress(a) as NodeAddress),
      workers: strings(cluster.workers).map((a) => asNodeAddress(a) as NodeAddress),
      ...(files.secretsBundle ? { secretsBundle: files.secretsBundle } : {}),
    },
    authorities,
  };
  const talos = api('talos');
  const kubernetes = api('kubernetes');
  if (talos) state.talos = talos;
  if (kubernetes) state.kubernetes = kubernetes;
  if (isObject(data.workloads)) state.workloads = workloadPolicyOf(data.workloads);
  if (opts.gitCheck !== false) {
    const exposed = await gitKeyExposure(
      absolute,
      keyHoldingFiles(state),
      outputFiles(state),
      path.dirname(defaultStatePath(absolute)),
    );
    if (exposed) findings.push(exposed);
  }
  return finish(shown, findings, source, text, state);
}

/** Every file the desired state names that holds a private key. */
function keyHoldingFiles(state: DesiredState): KeyHoldingFile[] {
  const out: KeyHoldingFile[] = [];
  for (const a of Object.values(state.authorities)) {
    if (a.keySource?.kind === 'file') out.push({ path: a.keySource.path, what: `the key of authority ${a.name}` });
    if (a.keySource?.kind === 'secretsBundle') out.push({ path: a.keySource.path, what: 'a secrets bundle: CA keys' });
    if (a.certificateSource.kind === 'secretsBundle')
      out.push({ path: a.certificateSource.path, what: 'a secrets bundle: CA keys' });
  }
  if (state.cluster.secretsBundle) out.push({ path: state.cluster.secretsBundle, what: 'the secrets bundle: CA keys' });
  out.push({ path: state.cluster.talosconfig, what: 'the talosconfig: an admin key' });
  if (state.cluster.kubeconfig) out.push({ path: state.cluster.kubeconfig, what: 'the kubeconfig: an admin key' });
  return out;
}

/** The files apply rewrites (an older version left backups beside them). */
function outputFiles(state: DesiredState): string[] {
  return [state.cluster.talosconfig, state.cluster.kubeconfig, state.cluster.secretsBundle].filter(
    (f): f is string => typeof f === 'string',
  );
}

/** Checks that need the certificates themselves: one CA under two names, algorithms that fit an API. */
function crossMaterialFindings(
  model: ReturnType<typeof checkSemantics>['model'],
  authorities: Record<string, Authority>,
): Finding[] {
  const findings: Finding[] = [];
  const byApi: Record<ApiKind, Map<string, string>> = { talos: new Map(), kubernetes: new Map() };
  for (const [name, refs] of model.references) {
    const a = authorities[name];
    if (!a) continue;
    for (const r of refs) byApi[r.api].set(a.certificate.fingerprint, name);
  }
  // The same certificate reachable from both APIs under different names.
  for (const [fp, k8sName] of byApi.kubernetes) {
    const talosName = byApi.talos.get(fp);
    if (talosName === undefined || talosName === k8sName) continue;
    const at = model.references.get(k8sName)!.find((r) => r.api === 'kubernetes')!.at;
    findings.push(
      error(
        'DESIRED_AUTHORITY_SHARED',
        at,
        `names ${k8sName}, whose certificate is the same as ${talosName}'s (used by the Talos API); ` +
          'the Talos API and the Kubernetes API need separate CAs',
        sharedHint(),
      ),
    );
  }
  for (const kind of ['talos', 'kubernetes'] as const) {
    const refs = model.apis[kind];
    if (!refs) continue;
    const issuing = authorities[refs.issuing];
    if (!issuing) continue;
    const seen = new Map<string, string>([[issuing.certificate.fingerprint, refs.issuing]]);
    refs.accepted.forEach((name) => {
      const a = authorities[name];
      if (!a) return;
      const ref = model.references.get(name)!.find((x) => x.api === kind && x.role === 'accepted')!;
      const twin = seen.get(a.certificate.fingerprint);
      if (twin !== undefined) {
        findings.push(
          warning(
            twin === refs.issuing ? 'DESIRED_ISSUING_ALSO_ACCEPTED' : 'DESIRED_DUPLICATE_ACCEPTED',
            ref.at,
            `names ${name}, whose certificate is the same as ${twin}'s` +
              `${twin === refs.issuing ? ` (the issuing CA)` : ''}; ignored`,
            'remove one of the two names for this CA',
          ),
        );
        return;
      }
      seen.set(a.certificate.fingerprint, name);
    });
    // A CA made for the other API (Talos names its CAs O=talos and O=kubernetes): almost always a mix-up.
    const otherOrg = kind === 'kubernetes' ? 'talos' : 'kubernetes';
    for (const name of [refs.issuing, ...refs.accepted]) {
      const a = authorities[name];
      if (!a || !new RegExp(`(^|,)\\s*O=${otherOrg}\\s*(,|$)`).test(a.certificate.subject)) continue;
      const ref = model.references.get(name)!.find((x) => x.api === kind)!;
      findings.push(
        warning(
          'DESIRED_CA_WRONG_API',
          ref.at,
          `names ${name}, whose certificate (${a.certificate.subject}) ` +
            `looks made for the ${otherOrg === 'talos' ? 'Talos' : 'Kubernetes'} API, ` +
            `not the ${kind === 'talos' ? 'Talos' : 'Kubernetes'} API`,
          `check that ${name} is the CA you meant here; \`rotate ca new --api ${kind}\` makes one for this API`,
        ),
      );
    }
    if (kind === 'kubernetes' && issuing.certificate.algorithm === 'ed25519') {
      findings.push(
        warning(
          'DESIRED_K8S_ED25519',
          ['kubernetes', 'issuing'],
          `names ${refs.issuing}, an Ed25519 CA: Talos accepts it for the Kubernetes API, ` +
            'but Kubernetes components may not',
          'kube-controller-manager reads its signing key with a parser that knows only the EC, ' +
            "RSA and PKCS#8 PEM labels, so a key under Talos's `ED25519 PRIVATE KEY` label stops kubelet " +
            'certificate signing; FIPS-mode and non-Go clients may reject Ed25519. ' +
            'Talos makes Kubernetes CAs with ECDSA P-256: rotate ca new --api kubernetes',
        ),
      );
    }
  }
  return findings;
}

/**
 * Load and check a desired-state file. Throws DesiredStateError (a RotateError, code DESIRED_INVALID)
 * listing every error as `file:line:col: field: message` plus a hint, with the diagnostics attached.
 */
export async function loadDesiredState(
  file: string,
  opts: LoadOptions = {},
): Promise<{ state: DesiredState; warnings: Diagnostic[] }> {
  const result = await validateDesiredFile(file, opts);
  if (!result.valid || !result.state) throw new DesiredStateError(result.file, result.errors, result.warnings);
  return { state: result.state, warnings: result.warnings };
}

/** The `workloads` section as the schema let it through (defaults filled in). */
function workloadPolicyOf(raw: Record<string, unknown>): WorkloadPolicy {
  const action = (v: unknown): WorkloadAction => (v === 'restart' || v === 'ignore' ? v : 'report');
  const namespaces: Record<string, WorkloadAction> = {};
  if (isObject(raw.namespaces)) for (const [ns, a] of Object.entries(raw.namespaces)) namespaces[ns] = action(a);
  const selectors: WorkloadPolicy['selectors'] = [];
  for (const r of Array.isArray(raw.selectors) ? raw.selectors : []) {
    if (!isObject(r) || !isObject(r.matchLabels)) continue;
    const matchLabels: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.matchLabels)) if (typeof v === 'string') matchLabels[k] = v;
    selectors.push({
      matchLabels,
      ...(typeof r.namespace === 'string' ? { namespace: r.namespace } : {}),
      action: action(r.action),
    });
  }
  const evict = EVICTABLE_KINDS.filter((k) => Array.isArray(raw.evict) && raw.evict.includes(k));
  return {
    default: action(raw.default),
    namespaces,
    selectors,
    evict,
    extensionApiserverAuthentication: raw.extensionApiserverAuthentication === 'report' ? 'report' : 'replace',
  };
}
