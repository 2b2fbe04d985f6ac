/**
 * Checks across fields that a JSON Schema cannot express: authority references, an authority shared by
 * both APIs, the issuing CA's key, node lists naming one address twice, the kubeconfig the Kubernetes
 * side needs. Pure: works on the parsed data (which may be partly invalid; fields with schema errors are
 * skipped so that one mistake is reported once).
 */
import { API_KINDS, type ApiKind } from '../domain/types.js';
import { canonicalAddress, checkKubernetesEndpoint, parseEndpoint } from './addresses.js';
import { error, formatField, warning, type Finding, type Segment } from './diagnostics.js';
import { closest } from './schema-errors.js';

export interface ApiRefs {
  issuing: string;
  /** Defined names, without the issuing one and without repeats, in file order. */
  accepted: string[];
}

export interface SemanticModel {
  apis: Partial<Record<ApiKind, ApiRefs>>;
  /** `cluster.endpoints` without repeats (as written), when given. */
  endpoints?: string[];
  /** Where each authority is referenced from (for messages placed at the reference). */
  references: Map<string, { api: ApiKind; role: 'issuing' | 'accepted'; at: Segment[] }[]>;
}

const API_TITLE: Record<ApiKind, string> = { talos: 'the Talos API', kubernetes: 'the Kubernetes API' };

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function startsWith(at: readonly Segment[], prefix: readonly Segment[]): boolean {
  return prefix.length <= at.length && prefix.every((s, i) => String(s) === String(at[i]));
}

export function checkSemantics(
  data: unknown,
  invalid: readonly Segment[][],
): { findings: Finding[]; model: SemanticModel } {
  const findings: Finding[] = [];
  const model: SemanticModel = { apis: {}, references: new Map() };
  if (!isObject(data)) return { findings, model };
  /** A field that already has a schema error (or sits under one) is not checked again. */
  const tainted = (at: Segment[]) => invalid.some((p) => startsWith(at, p));
  /** Some error at, under or above `at`. */
  const troubled = (at: Segment[]) => invalid.some((p) => startsWith(at, p) || startsWith(p, at));

  const authorities = isObject(data.authorities) ? data.authorities : {};
  const names = Object.keys(authorities);
  const definedList = names.length ? names.join(', ') : '(none)';

  if (!('talos' in data) && !('kubernetes' in data)) {
    findings.push(
      error(
        'DESIRED_NOTHING_MANAGED',
        [],
        'manages neither the Talos API nor the Kubernetes API',
        'add a `talos:` section, a `kubernetes:` section, or both, each naming its issuing authority',
      ),
    );
  }

  if (isObject(data.workloads) && !('kubernetes' in data) && !tainted(['workloads'])) {
    findings.push(
      warning(
        'DESIRED_WORKLOADS_UNUSED',
        ['workloads'],
        'has no effect: only a Kubernetes API CA change leaves workloads with the old CA',
        'remove it, or add a kubernetes section',
      ),
    );
  }

  const unknownRef = (at: Segment[], name: string) => {
    const guess = closest(name, names);
    findings.push(
      error(
        'DESIRED_UNKNOWN_AUTHORITY',
        at,
        `names authority ${JSON.stringify(name)}, which is not defined under authorities (defined: ${definedList})`,
        guess ? `did you mean ${guess}?` : `define ${name} under authorities, or name one of the defined authorities`,
      ),
    );
  };

  const reference = (name: string, api: ApiKind, role: 'issuing' | 'accepted', at: Segment[]) => {
    const list = model.references.get(name) ?? [];
    list.push({ api, role, at });
    model.references.set(name, list);
  };

  for (const api of API_KINDS) {
    const section = data[api];
    if (!isObject(section)) continue;
    const issuingAt: Segment[] = [api, 'issuing'];
    const issuing = typeof section.issuing === 'string' && !tainted(issuingAt) ? section.issuing : undefined;
    let issuingKnown = false;
    if (issuing !== undefined) {
      if (!names.includes(issuing)) unknownRef(issuingAt, issuing);
      else {
        issuingKnown = true;
        reference(issuing, api, 'issuing', issuingAt);
      }
    }
    const accepted: string[] = [];
    if (Array.isArray(section.accepted)) {
      section.accepted.forEach((name, i) => {
        const at: Segment[] = [api, 'accepted', i];
        if (typeof name !== 'string' || tainted(at)) return;
        if (!names.includes(name)) return unknownRef(at, name);
        if (name === issuing) {
          findings.push(
            warning(
              'DESIRED_ISSUING_ALSO_ACCEPTED',
              at,
              `lists ${name}, the issuing CA of ${API_TITLE[api]}; ignored`,
              'remove it from accepted: Talos always trusts the issuing CA (.machine.ca / .cluster.ca) ' +
                'besides the accepted ones, so listing it changes nothing',
            ),
          );
          return;
        }
        if (accepted.includes(name)) {
          findings.push(
            warning(
              'DESIRED_DUPLICATE_ACCEPTED',
              at,
              `lists ${name} a second time; ignored`,
              'remove the repeated entry',
            ),
          );
          return;
        }
        accepted.push(name);
        reference(name, api, 'accepted', at);
      });
    }
    if (issuing !== undefined && issuingKnown) {
      model.apis[api] = { issuing, accepted };
      const authority = authorities[issuing];
      if (isObject(authority) && !('key' in authority) && !troubled(['authorities', issuing])) {
        // Valid while the cluster already issues from it: apply escrows the current issuing key from a control
        // plane's machine config. Only a plan that makes it issuing where it is not needs it (and says so).
        findings.push(
          warning(
            'DESIRED_ISSUING_NO_KEY',
            ['authorities', issuing],
            `is the issuing CA of ${API_TITLE[api]} (${api}.issuing) and has no key: fine while the cluster already ` +
              `issues from it (apply then takes its key from a control plane's machine config for the escrow); ` +
              'a plan that makes it issuing on a node that does not issue from it yet stops and asks for it',
            'add `key: { file: PATH }` (or { env: VARIABLE } / { secretsBundle: PATH, entry: ' +
              'os | k8s }) before asking the cluster to start issuing from it',
            { onKey: true },
          ),
        );
      }
    }
  }

  // One CA for both APIs: a certificate issued for one API would be trusted by the other.
  for (const [name, refs] of model.references) {
    const apis = new Set(refs.map((r) => r.api));
    if (apis.size < 2) continue;
    const k8s = refs.find((r) => r.api === 'kubernetes')!;
    const talos = refs.find((r) => r.api === 'talos')!;
    findings.push(
      error(
        'DESIRED_AUTHORITY_SHARED',
        k8s.at,
        `names ${name}, which ${formatField(talos.at)} names too; the Talos API and the Kubernetes API need ` +
          'separate CAs',
        sharedHint(),
      ),
    );
  }

  for (const name of names) {
    if (!model.references.has(name) && !troubled(['authorities', name])) {
      findings.push(
        warning(
          'DESIRED_UNUSED_AUTHORITY',
          ['authorities', name],
          'is defined but neither issuing nor accepted for any API; the plan removes it from the cluster where it ' +
            'is still trusted',
          'keep it only to switch back to it later; otherwise delete it',
          {
            onKey: true,
          },
        ),
      );
    }
  }

  const cluster = isObject(data.cluster) ? data.cluster : undefined;
  if (cluster) {
    if (isObject(data.kubernetes) && !('kubeconfig' in cluster) && !tainted(['cluster'])) {
      findings.push(
        error(
          'DESIRED_KUBECONFIG_REQUIRED',
          ['cluster'],
          'is required when the kubernetes section is present',
          'add `kubeconfig: <path>`: apply writes the admin kubeconfig signed by the new Kubernetes CA there (an ' +
            'existing file is backed up first)',
          {
            onKey: true,
            field: ['cluster', 'kubeconfig'],
          },
        ),
      );
    }
    if (!('kubernetes' in data) && typeof cluster.kubeconfig === 'string') {
      findings.push(
        warning(
          'DESIRED_KUBECONFIG_UNUSED',
          ['cluster', 'kubeconfig'],
          'is not used: the Kubernetes API is not managed by this file',
          'remove it, or add a kubernetes section',
        ),
      );
    }
    checkNodes(cluster, tainted, findings);
    const endpoints = checkEndpoints(cluster, tainted, findings);
    if (endpoints) model.endpoints = endpoints;
    checkKubernetesUrl(cluster, tainted, findings);
  }
  return { findings, model };
}

export function sharedHint(): string {
  return (
    'create a separate CA for each API (rotate ca new --api kubernetes --name k8s-2026). ' +
    'With one CA, a certificate signed for one API is ' +
    'accepted by the other: anyone who can get a Kubernetes CSR signed could obtain a Talos API client certificate ' +
    'carrying any Talos role'
  );
}

function checkNodes(cluster: Record<string, unknown>, tainted: (at: Segment[]) => boolean, findings: Finding[]): void {
  const seen = new Map<string, Segment[]>();
  for (const list of ['controlPlanes', 'workers'] as const) {
    const items = cluster[list];
    if (!Array.isArray(items)) continue;
    items.forEach((value, i) => {
      const at: Segment[] = ['cluster', list, i];
      if (typeof value !== 'string' || tainted(at)) return;
      const key = canonicalAddress(value);
      const first = seen.get(key);
      if (!first) {
        seen.set(key, at);
        return;
      }
      const same = first[1] === list;
      const firstValue = String((cluster[first[1] as string] as unknown[])[first[2] as number]);
      const spelled = firstValue === value ? '' : ` (written ${JSON.stringify(firstValue)} there)`;
      findings.push(
        same
          ? error(
              'DESIRED_DUPLICATE_NODE',
              at,
              `lists ${JSON.stringify(value)} again: it is already ${formatField(first)}${spelled}`,
              'remove the repeated entry; each node is listed exactly once',
            )
          : error(
              'DESIRED_DUPLICATE_NODE',
              at,
              `lists ${JSON.stringify(value)} as a ${list === 'workers' ? 'worker' : 'control plane'}, ` +
                `but ${formatField(first)} lists it as ` +
                `a ${list === 'workers' ? 'control plane' : 'worker'}${spelled}`,
              'a node is either a control plane or a worker: keep it only in the list that matches its machine type',
            ),
      );
    });
  }
}

function checkEndpoints(
  cluster: Record<string, unknown>,
  tainted: (at: Segment[]) => boolean,
  findings: Finding[],
): string[] | undefined {
  const items = cluster.endpoints;
  if (!Array.isArray(items)) return undefined;
  const seen = new Map<string, number>();
  const out: string[] = [];
  items.forEach((value, i) => {
    const at: Segment[] = ['cluster', 'endpoints', i];
    if (typeof value !== 'string' || tainted(at)) return;
    const parsed = parseEndpoint(value);
    const key = parsed ? `${canonicalAddress(parsed.host)}:${parsed.port ?? 50000}` : value;
    const first = seen.get(key);
    if (first !== undefined) {
      findings.push(
        warning(
          'DESIRED_DUPLICATE_ENDPOINT',
          at,
          `repeats cluster.endpoints[${first}]; ignored`,
          'remove the repeated entry',
        ),
      );
      return;
    }
    seen.set(key, i);
    out.push(value);
  });
  return out;
}

function checkKubernetesUrl(
  cluster: Record<string, unknown>,
  tainted: (at: Segment[]) => boolean,
  findings: Finding[],
): void {
  const value = cluster.kubernetesEndpoint;
  const at: Segment[] = ['cluster', 'kubernetesEndpoint'];
  if (typeof value !== 'string' || tainted(at)) return;
  const { problem, url } = checkKubernetesEndpoint(value);
  const example = 'e.g. https://10.0.0.10:6443';
  switch (problem) {
    case undefined:
      if (url && url.port === '') {
        findings.push(
          warning(
            'DESIRED_K8S_ENDPOINT_PORT',
            at,
            'has no port, so 443 is used; kube-apiserver on Talos listens on 6443',
            `write the port explicitly, ${example} (or :443 if a load balancer listens there)`,
          ),
        );
      }
      return;
    case 'credentials':
      findings.push(
        error(
          'DESIRED_BAD_URL',
          at,
          'must not carry a user name or password',
          `authentication comes from the kubeconfig; write only the URL, ${example}`,
        ),
      );
      return;
    case 'path':
      findings.push(
        error('DESIRED_BAD_URL', at, 'must be scheme, host and port only (no path, query or fragment)', example),
      );
      return;
    default:
      findings.push(error('DESIRED_BAD_URL', at, 'must be an https:// URL with an IP address or DNS name', example));
  }
}
