/**
 * KubePrism (talos-behaviour.md §4.3): the node-local load balancer (127.0.0.1:7445 on a real node) through which the
 * kubelet reaches every control plane's apiserver. Modelled as the choice of an upstream per connection,
 * round robin over the apiservers its health checks see up (go-loadbalancer `upstream.List.Pick`: the next
 * healthy one after the last pick), without a listener of its own: the kubelet keeps one connection and
 * then dials the chosen apiserver directly from its node address, verifying the certificate for
 * KubePrism's host 127.0.0.1 as the real kubelet does.
 */
export const KUBEPRISM_HOST = '127.0.0.1';

export interface Upstream {
  readonly isUp: boolean;
}

export class KubePrism<T extends Upstream> {
  readonly #upstreams: () => readonly T[];
  #next: number;

  constructor(upstreams: () => readonly T[], start = 0) {
    this.#upstreams = upstreams;
    this.#next = start;
  }

  /** The next upstream that is up, or null when none is. */
  pick(): T | null {
    const all = this.#upstreams();
    const n = all.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.#next + i) % n;
      const s = all[idx]!;
      if (s.isUp) {
        this.#next = (idx + 1) % n;
        return s;
      }
    }
    return null;
  }
}
