/**
 * trustd on control planes (`<address>:50001`, `securityapi.SecurityService/Certificate`), and the worker's
 * side of it.
 *
 * Server (internal/app/trustd/main.go, internal/app/trustd/internal/reg/reg.go): TLS without client
 * certificates (tls.ServerOnly), serving a certificate from the node's issuing Talos CA; every call must carry
 * the node's trustd token (`.machine.token`) in the `token` metadata key
 * (pkg/grpc/middleware/auth/basic/token.go: Unauthenticated "missing token" / "invalid token"). The CSR is
 * signed with the node's issuing CA with KeyUsage DigitalSignature, EKU exactly ServerAuth and the
 * Organization removed; the answer's `ca` is the node's accepted CAs (OSRoot, as configured) concatenated.
 *
 * Client (internal/app/machined/pkg/controllers/secrets/api.go generateWorker, pkg/grpc/gen/remote.go): the
 * worker verifies trustd against its OWN accepted Talos CAs, sends its token, tries the control planes in
 * turn, and adopts the returned certificate and bundle for its apid. Every dial is a `worker-trustd` edge
 * counted by the worker in the ledger.
 */
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { signCsr, type CaMaterial, type SignedCert } from '../../pki/index.js';
import { talosProtos, type CertificateRequest, type CertificateResponse } from '../../talos/proto.js';
import type { LabCluster, LabNode } from '../core/model.js';
import type { Ledger } from '../core/ledger.js';
import { readConfigCas } from '../core/roots.js';
import { goJoin } from '../core/go-pem.js';
import { API_CERT_VALIDITY_MS, tlsKey, type NodeCredentials } from './credentials.js';
import { recordDialFailure } from './dial.js';
import type { LabDialer } from './dial-thread.js';
import { GrpcCallError, Status } from './h2-grpc.js';
import { closeServer, listen } from '../core/listen.js';
import { BoundedMap } from '../../util/bounded-map.js';

export const TRUSTD_PORT = 50001;

export interface TrustdHost {
  readonly node: LabNode;
  readonly cluster: LabCluster;
  readonly credentials: NodeCredentials | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The `ca` trustd returns: the node's OSRoot accepted list (`.machine.acceptedCAs` + `.machine.ca.crt`) as
 * configured, joined with no separator (reg.go `bytes.Join(…, nil)`): an entry without its final newline
 * runs into the next one, and Go's PEM decoder then drops both (../core/go-pem.ts).
 */
export function acceptedBundle(node: LabNode): string {
  const view = readConfigCas(node.config);
  return goJoin([...view.machineAccepted, ...(view.machineCa ? [view.machineCa.crt] : [])]);
}

/**
 * Signatures by (issuing CA, CSR), kept a few minutes: background probes send the same CSR again and again
 * and signing costs milliseconds of pure-JS ASN.1. A probe never adopts the answer, and a worker that
 * re-registers sends a new CSR, so no one is handed a certificate issued from other inputs.
 */
const signatures = new BoundedMap<string, { at: number; signed: Promise<SignedCert> }>(1024);
const SIGNATURE_TTL_MS = 10 * 60_000;

function signOnce(issuing: CaMaterial, csr: string): Promise<SignedCert> {
  const key = `${issuing.fingerprint}\u0000${csr}`;
  const hit = signatures.get(key);
  if (hit && Date.now() - hit.at < SIGNATURE_TTL_MS) return hit.signed;
  const signed = signCsr(issuing, csr, {
    usages: ['serverAuth'],
    keyUsages: ['digitalSignature'],
    stripOrganization: true,
    validityMs: API_CERT_VALIDITY_MS,
  });
  signatures.set(key, { at: Date.now(), signed });
  signed.catch(() => signatures.delete(key));
  return signed;
}

export async function signWorkerCsr(
  host: TrustdHost,
  md: grpc.Metadata,
  req: CertificateRequest,
): Promise<CertificateResponse> {
  const { node } = host;
  const tokens = md.get('token');
  if (tokens.length === 0) throw new GrpcCallError(Status.UNAUTHENTICATED, 'missing token');
  const token = readConfigCas(node.config).trustdToken;
  if (String(tokens[0]) !== token) throw new GrpcCallError(Status.UNAUTHENTICATED, 'invalid token');
  const issuing = node.roots.talos.issuing;
  const csr = Buffer.from(req.csr ?? new Uint8Array()).toString('utf8');
  if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(csr))
    throw new GrpcCallError(Status.INVALID_ARGUMENT, 'failed to decode CSR');
  if (!issuing)
    throw new GrpcCallError(Status.INTERNAL, `failed to sign CSR: ${node.roots.talos.error ?? 'no issuing CA key'}`);
  let signed;
  try {
    signed = await signOnce(issuing, csr);
  } catch (err) {
    const msg = (err as Error).message;
    if (/CSR/.test(msg)) throw new GrpcCallError(Status.INVALID_ARGUMENT, `failed to parse CSR: ${msg}`);
    throw new GrpcCallError(Status.INTERNAL, `failed to sign CSR: ${msg}`);
  }
  return { ca: Buffer.from(acceptedBundle(node)), crt: Buffer.from(signed.certPem) };
}

export class TrustdServer {
  readonly #host: TrustdHost;
  readonly #grpc = new grpc.Server();
  readonly #injector: grpc.ConnectionInjector;
  readonly #sockets = new Set<Socket>();
  #server: tls.Server | null = null;

  constructor(host: TrustdHost) {
    this.#host = host;
    const def = talosProtos().securityService;
    this.#grpc.addService(def, {
      Certificate: (
        call: grpc.ServerUnaryCall<CertificateRequest, CertificateResponse>,
        cb: grpc.sendUnaryData<CertificateResponse>,
      ) => {
        void (async () => {
          const delay = this.#host.node.faults.delayMs;
          if (delay > 0) await sleep(delay);
          return signWorkerCsr(this.#host, call.metadata, call.request);
        })().then(
          (res) => cb(null, res),
          (err: unknown) =>
            cb(
              err instanceof GrpcCallError
                ? { code: err.code, details: err.details }
                : { code: grpc.status.INTERNAL, details: String(err) },
            ),
        );
      },
    } as grpc.UntypedServiceImplementation);
    this.#injector = this.#grpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  #context(creds: NodeCredentials): tls.SecureContextOptions | null {
    return creds.trustd ? { cert: creds.trustd.certPem, key: tlsKey(creds.trustd), minVersion: 'TLSv1.2' } : null;
  }

  updateCredentials(): void {
    const ctx = this.#host.credentials && this.#context(this.#host.credentials);
    if (this.#server && ctx) this.#server.setSecureContext(ctx);
  }

  async listen(): Promise<void> {
    const creds = this.#host.credentials;
    const ctx = creds && this.#context(creds);
    if (this.#server || !ctx) return;
    const server = tls.createServer({ ...ctx, ALPNProtocols: ['h2'] });
    server.on('connection', (raw) => {
      this.#sockets.add(raw);
      raw.once('close', () => this.#sockets.delete(raw));
    });
    server.on('tlsClientError', () => undefined);
    server.on('secureConnection', (socket) => {
      socket.on('error', () => undefined);
      this.#injector.injectConnection(socket);
    });
    await listen(server, { port: TRUSTD_PORT, host: this.#host.node.address });
    server.on('error', () => undefined);
    this.#server = server;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    await closeServer(server, this.#sockets);
  }

  shutdown(): void {
    this.#injector.destroy();
    this.#grpc.forceShutdown();
  }
}

export type TrustdOutcome = { ok: true; crt: string; bundle: string; from: string } | { ok: false; detail: string };

/**
 * One Certificate call from `worker` to `cp`'s trustd, verifying trustd against the worker's own accepted
 * Talos CAs. TLS failures go to the ledger (edge worker-trustd, counted by the worker).
 */
export async function callTrustd(
  worker: LabNode,
  cp: LabNode,
  ledger: Ledger,
  csrPem: string,
  dialer: LabDialer,
): Promise<TrustdOutcome> {
  const ca = worker.roots.talos.trusted.map((c) => c.certPem);
  if (ca.length === 0) return { ok: false, detail: 'the worker trusts no Talos CA' };
  const out = await dialer.unary({
    dial: { from: worker.address, host: cp.address, port: TRUSTD_PORT, ca },
    method: 'security.Certificate',
    request: { csr: Buffer.from(csrPem) } satisfies CertificateRequest,
    metadata: { token: readConfigCas(worker.config).trustdToken },
    timeoutMs: 10_000,
  });
  if (out.kind === 'dial-failed') {
    recordDialFailure(ledger, 'worker-trustd', worker.address, cp.address, out.failure, cp.isDown);
    return { ok: false, detail: out.failure.detail };
  }
  if (out.kind === 'call-failed') return { ok: false, detail: out.error };
  const res = out.response as CertificateResponse;
  return {
    ok: true,
    crt: Buffer.from(res.crt ?? new Uint8Array()).toString('utf8'),
    bundle: Buffer.from(res.ca ?? new Uint8Array()).toString('utf8'),
    from: cp.address,
  };
}
