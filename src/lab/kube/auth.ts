/**
 * kube-apiserver authentication and authorization as far as the lab needs them. Pure functions.
 *
 * Authentication (union, first match wins, as kube-apiserver): a verified client certificate with a CN gives
 * user = CN and groups = O values (+ system:authenticated); else a bearer token equal to the cluster's bootstrap
 * token `<id>.<secret>` gives `system:bootstrap:<id>` in system:bootstrappers (+ :nodes, the extra group
 * Talos puts in its bootstrap token secret); a wrong token is 401; no credentials is `system:anonymous`.
 *
 * Authorization, a small RBAC + Node authorizer: system:masters may do anything; a kubelet
 * (system:node:<name> in system:nodes) may read nodes and update only its own Node status and its own
 * Lease in kube-node-lease; bootstrappers may create and read CSRs; every authenticated user may read
 * discovery; anonymous users may read only /version and the health endpoints (system:public-info-viewer).
 */

export interface KubeUser {
  name: string;
  groups: string[];
}

export const ANONYMOUS: KubeUser = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

export type AuthnResult = { ok: true; user: KubeUser } | { ok: false };

/**
 * A client certificate's subject as node:tls's `getPeerCertificate().subject` holds it: raw (unescaped) values,
 * one as a string, several as an array, in certificate order.
 */
export type CertSubject = { CN?: string | string[]; O?: string | string[] };

export function authenticate(opts: {
  verifiedCertSubject: CertSubject | null;
  authorization: string | undefined;
  bootstrapToken: string;
}): AuthnResult {
  if (opts.verifiedCertSubject) {
    const cn = opts.verifiedCertSubject.CN;
    const o = opts.verifiedCertSubject.O;
    // Go's pkix.Name keeps the last CommonName of the subject (FillFromRDNSequence), the user name.
    const name = Array.isArray(cn) ? (cn[cn.length - 1] ?? '') : (cn ?? '');
    const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
    // CommonNameUserConversion: a verified certificate without a CN authenticates no one, and the request
    // goes on to the token authenticators and anonymous, as if it had come without a certificate.
    if (name !== '') return { ok: true, user: { name, groups: [...groups, 'system:authenticated'] } };
  }
  const header = opts.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m || m[1] !== opts.bootstrapToken) return { ok: false };
    const id = opts.bootstrapToken.split('.')[0] ?? '';
    return {
      ok: true,
      user: {
        name: `system:bootstrap:${id}`,
        groups: ['system:bootstrappers', 'system:bootstrappers:nodes', 'system:authenticated'],
      },
    };
  }
  return { ok: true, user: ANONYMOUS };
}

/** What a request touches, as kube-apiserver's RequestInfo resolver sees it. */
export type RequestTarget =
  | { kind: 'public' } // /version, /healthz, /livez, /readyz
  | { kind: 'discovery' } // /api, /apis, group/version documents
  | {
      kind: 'resource';
      verb: string;
      group: string;
      resource: string;
      subresource?: string;
      name?: string;
      namespace?: string;
    };

/** The target of a request on `resource` of API `group` (where given: its subresource, namespace and name). */
export function resourceTarget(
  verb: string,
  group: string,
  resource: string,
  at: { subresource?: string | undefined; namespace?: string | undefined; name?: string | undefined } = {},
): RequestTarget {
  return {
    kind: 'resource',
    verb,
    group,
    resource,
    ...(at.subresource ? { subresource: at.subresource } : {}),
    ...(at.namespace ? { namespace: at.namespace } : {}),
    ...(at.name ? { name: at.name } : {}),
  };
}

export function isNodeUser(user: KubeUser): string | null {
  if (!user.groups.includes('system:nodes') || !user.name.startsWith('system:node:')) return null;
  return user.name.slice('system:node:'.length);
}

export function authorize(user: KubeUser, target: RequestTarget): boolean {
  if (target.kind === 'public') return true;
  if (user.name === ANONYMOUS.name) return false;
  if (target.kind === 'discovery') return true;
  if (user.groups.includes('system:masters')) return true;

  const node = isNodeUser(user);
  if (node !== null) {
    if (target.group === '' && target.resource === 'nodes') {
      if (['get', 'list', 'watch'].includes(target.verb) && !target.subresource) return true;
      return target.name === node && ['get', 'patch', 'update'].includes(target.verb);
    }
    if (target.group === 'coordination.k8s.io' && target.resource === 'leases') {
      return (
        target.namespace === 'kube-node-lease' &&
        target.name === node &&
        ['get', 'create', 'update'].includes(target.verb)
      );
    }
    if (
      target.group === 'certificates.k8s.io' &&
      target.resource === 'certificatesigningrequests' &&
      !target.subresource
    ) {
      return ['create', 'get', 'list', 'watch'].includes(target.verb);
    }
    return false;
  }
  if (user.groups.includes('system:bootstrappers')) {
    return (
      target.group === 'certificates.k8s.io' &&
      target.resource === 'certificatesigningrequests' &&
      !target.subresource &&
      ['create', 'get', 'list', 'watch'].includes(target.verb)
    );
  }
  return false;
}
