/**
 * The one place that initialises @peculiar/x509: it needs reflect-metadata loaded first and a WebCrypto
 * provider. Every PKI module imports the library from here so the order is guaranteed.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
export const subtle = webcrypto.subtle;
