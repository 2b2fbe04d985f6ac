/**
 * CertificateSigningRequests (stored cluster-wide, as in etcd) and the kube-controller-manager pieces that
 * act on them: the csrapproving controller (auto-approves kubelet client CSRs from bootstrap tokens and
 * from nodes renewing their own) and the csrsigning controller, which signs with the issuing Kubernetes
 * CA key of the control plane that holds the controller-manager leader lease — the CA its running
 * kube-controller-manager was started with (static-pods.ts `issuing`), which changes when that control
 * plane's static pods are re-created, not when its config changes.
 *
 * Leader election: one control plane holds the lease at a time; it keeps it while its node is up and it
 * moves to the first control plane that is up when the holder goes down (as the lease expiring would).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { signCsr, splitPemBlocks, type CaMaterial } from '../../pki/index.js';
import { x509 } from '../../pki/x509lib.js';
import type { LabCluster, LabNode } from '../core/model.js';
import { isNodeUser, type KubeUser } from './auth.js';
import { KUBELET_CLIENT_SIGNER, type CsrView } from './objects.js';
import type { StaticPods } from './static-pods.js';

/** kube-controller-manager's --cluster-signing-duration default (1 year). */
const SIGNING_DURATION_MS = 365 * 24 * 3_600_000;
const RETRY_MS = 250;
/** Concurrent signing workers (kube-controller-manager runs several; signing runs in the crypto threadpool). */
const SIGNING_WORKERS = 4;

export class CsrStore {
  readonly #items = new Map<string, CsrView>();
  readonly #watchers = new Map<string, Set<(c: CsrView) => void>>();
  #version = 1;
  #onCreate: (() => void) | null = null;

  /** Called with the CSR after every change (a watch on one CSR); returns the unsubscribe function. */
  subscribe(name: string, fn: (c: CsrView) => void): () => void {
    let set = this.#watchers.get(name);
    if (!set) this.#watchers.set(name, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.#watchers.delete(name);
    };
  }

  onCreate(fn: () => void): void {
    this.#onCreate = fn;
  }

  get resourceVersion(): string {
    return String(this.#version);
  }

  create(spec: {
    requestPem: string;
    signerName: string;
    usages: string[];
    user: KubeUser;
    name?: string;
    generateName?: string;
  }): CsrView {
    this.#version += 1;
    let name = spec.name;
    while (name === undefined || (spec.name === undefined && this.#items.has(name))) {
      name = `${spec.generateName ?? 'csr-'}${randomBytes(3).toString('hex').slice(0, 5)}`;
    }
    const view: CsrView = {
      name,
      uid: randomUUID(),
      createdAt: new Date(),
      resourceVersion: String(this.#version),
      requestPem: spec.requestPem,
      signerName: spec.signerName,
      usages: spec.usages,
      username: spec.user.name,
      groups: spec.user.groups,
      state: 'Pending',
      message: '',
      certificatePem: null,
    };
    this.#items.set(name, view);
    this.#onCreate?.();
    return view;
  }

  has(name: string): boolean {
    return this.#items.has(name);
  }

  get(name: string): CsrView | undefined {
    return this.#items.get(name);
  }

  list(): CsrView[] {
    return [...this.#items.values()];
  }

  pending(): CsrView[] {
    return this.list().filter((c) => c.state === 'Pending' || (c.state === 'Approved' && c.certificatePem === null));
  }

  update(name: string, patch: Partial<Pick<CsrView, 'state' | 'message' | 'certificatePem'>>): void {
    const c = this.#items.get(name);
    if (!c) return;
    this.#version += 1;
    Object.assign(c, patch, { resourceVersion: String(this.#version) });
    for (const fn of this.#watchers.get(name) ?? []) fn(c);
  }
}

/** Subject CN and O values of a PEM CSR (null when it does not parse). */
function csrSubject(pem: string): { cn: string; orgs: string[] } | null {
  try {
    const block = splitPemBlocks(pem).find((b) => b.label === 'CERTIFICATE REQUEST');
    if (!block) return null;
    const csr = new x509.Pkcs10CertificateRequest(block.der);
    return { cn: csr.subjectName.getField('CN')[0] ?? '', orgs: csr.subjectName.getField('O') };
  } catch {
    return null;
  }
}

/** The csrapproving controller's rule for kubelet client CSRs; returns why it is denied, or null. */
export function kubeletCsrDenial(c: CsrView): string | null {
  if (c.signerName !== KUBELET_CLIENT_SIGNER) return `signer ${c.signerName} is not handled by the lab`;
  const subject = csrSubject(c.requestPem);
  if (!subject) return 'the request is not a valid PEM CSR';
  if (subject.orgs.length !== 1 || subject.orgs[0] !== 'system:nodes')
    return 'subject organization must be exactly system:nodes';
  if (!subject.cn.startsWith('system:node:')) return 'subject common name must start with system:node:';
  if (!c.usages.includes('client auth')) return 'usages must include client auth';
  const requester: KubeUser = { name: c.username, groups: c.groups };
  const node = isNodeUser(requester);
  if (node !== null) {
    if (subject.cn !== c.username) return 'a node may only renew its own client certificate';
    return null;
  }
  if (!c.groups.includes('system:bootstrappers')) return 'requester is neither a bootstrapper nor a node';
  return null;
}

export class ControllerManager {
  readonly #cluster: LabCluster;
  readonly #store: CsrStore;
  readonly #pods: ReadonlyMap<LabNode, StaticPods>;
  #holder: LabNode | null = null;
  #timer: NodeJS.Timeout | null = null;
  #working = false;
  /** Something happened while a pass was running: run another pass at once. */
  #dirty = false;
  #stopped = false;
  readonly #listeners: Array<() => void> = [];

  constructor(cluster: LabCluster, store: CsrStore, pods: ReadonlyMap<LabNode, StaticPods>) {
    this.#cluster = cluster;
    this.#store = store;
    this.#pods = pods;
    store.onCreate(() => this.#kick());
    for (const cp of cluster.controlPlanes) {
      const moved = (): void => {
        this.leader();
        this.#kick();
      };
      cp.on('down', moved);
      cp.on('up', moved);
      this.#listeners.push(() => {
        cp.off('down', moved);
        cp.off('up', moved);
      });
    }
    this.leader();
  }

  /** The control plane holding the leader lease (null while every control plane is down). */
  leader(): LabNode | null {
    if (this.#holder && !this.#holder.isDown) return this.#holder;
    this.#holder = this.#cluster.controlPlanes.find((n) => !n.isDown) ?? null;
    return this.#holder;
  }

  /**
   * The `--root-ca-file` of the controller-manager running on control plane `node`: the issuing Kubernetes
   * CA alone, as Talos renders it (render_secrets_static_pod.go), from what its static pod runs with (so it
   * moves when the pod is re-created, not when the config changes). The root-CA publisher reads this.
   */
  rootCaPem(node: LabNode): string | null {
    return this.#pods.get(node)?.issuing?.certPem ?? null;
  }

  /**
   * The CA the leader's running kube-controller-manager signs with (null: no leader, or its CA unusable).
   * Changes when the leader moves or its static pods are re-created.
   */
  issuingCa(): CaMaterial | null {
    const leader = this.leader();
    return leader ? (this.#pods.get(leader)?.issuing ?? null) : null;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const off of this.#listeners) off();
  }

  #kick(): void {
    if (this.#stopped) return;
    if (this.#working) {
      this.#dirty = true;
      return;
    }
    this.#working = true;
    this.#dirty = false;
    void this.#process().finally(() => {
      this.#working = false;
      if (this.#stopped) return;
      if (this.#dirty) {
        this.#kick();
        return;
      }
      // Left over: approved but unsigned (no leader, or its CA unusable): look again later.
      if (this.#store.pending().length > 0 && !this.#timer) {
        this.#timer = setTimeout(() => {
          this.#timer = null;
          this.#kick();
        }, RETRY_MS);
        this.#timer.unref();
      }
    });
  }

  async #process(): Promise<void> {
    const queue = this.#store.pending();
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c && !this.#stopped; c = queue.shift()) await this.#sync(c);
    };
    await Promise.all(Array.from({ length: SIGNING_WORKERS }, worker));
  }

  async #sync(c: CsrView): Promise<void> {
    if (c.state === 'Pending') {
      const denial = kubeletCsrDenial(c);
      if (denial) {
        this.#store.update(c.name, { state: 'Denied', message: denial });
        return;
      }
      this.#store.update(c.name, {
        state: 'Approved',
        message: 'Auto approving kubelet client certificate after SubjectAccessReview.',
      });
    }
    const issuing = this.issuingCa();
    // No leader, or the leader's issuing CA is unusable: the CSR stays approved and unsigned (retried).
    if (!issuing) return;
    try {
      const signed = await signCsr(issuing, c.requestPem, { usages: ['clientAuth'], validityMs: SIGNING_DURATION_MS });
      this.#store.update(c.name, { certificatePem: signed.certPem });
    } catch (err) {
      this.#store.update(c.name, { state: 'Failed', message: `signing failed: ${(err as Error).message}` });
    }
  }
}
