/**
 * The lab's own cluster-wide stores of namespaced objects (ConfigMaps: root-ca-publisher.ts, Leases:
 * lease-store.ts): objects by namespace and name, and one resourceVersion counter per store that every write
 * moves on, as etcd does behind kube-apiserver.
 */
import { inNamespaceOrder, type StoredMeta } from './objects.js';

export const storeKey = (namespace: string, name: string): string => `${namespace}/${name}`;

export class NamespacedStore<T extends StoredMeta> {
  protected readonly items = new Map<string, T>();
  #version = 1;

  get resourceVersion(): string {
    return String(this.#version);
  }

  get(namespace: string, name: string): T | undefined {
    return this.items.get(storeKey(namespace, name));
  }

  /** In namespace then name order; every namespace when `namespace` is undefined. */
  list(namespace?: string): T[] {
    return inNamespaceOrder(this.items.values(), namespace);
  }

  /** Moves the counter on for a write; returns the write's resourceVersion. */
  protected nextVersion(): string {
    this.#version += 1;
    return String(this.#version);
  }
}
