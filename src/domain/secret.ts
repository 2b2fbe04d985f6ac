import { inspect } from 'node:util';

/**
 * A private key (or any secret) held in memory. It renders as `(sensitive)` through every channel that
 * could reach a log — String(), template literals, JSON.stringify, util.inspect/console.log — so that a
 * careless message or a serialised object cannot leak it. Only `reveal()` yields the value, and only code
 * that must hand the key to TLS, a signer or a 0600 file calls it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '(sensitive)';
  }

  toJSON(): string {
    return '(sensitive)';
  }

  [inspect.custom](): string {
    return 'Secret((sensitive))';
  }
}
