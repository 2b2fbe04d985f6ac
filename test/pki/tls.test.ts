import t from 'tap';
import { once } from 'node:events';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  concatPem,
  generateKubernetesCa,
  generateTalosCa,
  issueKubernetesAdminCert,
  issueLeafCert,
  issueTalosClientCert,
  keyPemForTls,
  type CaMaterial,
  type IssuedCert,
} from '../../src/pki/index.js';

interface Outcome {
  /** What the client received from the server ('' if nothing). */
  reply: string;
  /** Peer certificate Organization values the server saw for an accepted client. */
  serverSawRoles: string[] | undefined;
  /** Handshakes the server rejected. */
  rejected: number;
}

/**
 * A TLS server like apid: server cert from `serverCa`, client certs required and verified against
 * `trusted`. One client connection with `client`.
 */
async function roundTrip(
  serverCa: CaMaterial,
  trusted: CaMaterial[],
  client: IssuedCert,
  clientTrusts: CaMaterial[],
): Promise<Outcome> {
  const serverCert = await issueLeafCert(serverCa, {
    commonName: 'localhost',
    usages: ['serverAuth'],
    ipAddresses: ['127.0.0.1'],
    validityMs: 3_600_000,
  });
  let serverSawRoles: string[] | undefined;
  let rejected = 0;
  const server = tls.createServer(
    {
      cert: serverCert.certPem,
      key: keyPemForTls(serverCert.key),
      ca: concatPem(trusted.map((c) => c.certPem)),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (socket) => {
      const subject = socket.getPeerCertificate().subject as unknown as Record<string, string | string[]>;
      const o = subject.O;
      serverSawRoles = o === undefined ? [] : Array.isArray(o) ? o : [o];
      socket.end('hello');
    },
  );
  server.on('tlsClientError', () => {
    rejected += 1;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const reply = await new Promise<string>((resolve) => {
      let data = '';
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        ca: concatPem(clientTrusts.map((c) => c.certPem)),
        cert: client.certPem,
        key: keyPemForTls(client.key),
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('error', () => resolve(data));
      socket.on('close', () => resolve(data));
    });
    return { reply, serverSawRoles, rejected };
  } finally {
    server.close();
    await once(server, 'close');
  }
}

t.test('node:tls mutual TLS with our Talos CA (Ed25519 keys in Talos encoding)', async (t) => {
  const talos = await generateTalosCa();
  const admin = await issueTalosClientCert(talos, { roles: ['os:admin'] });
  const ok = await roundTrip(talos, [talos], admin, [talos]);
  t.equal(ok.reply, 'hello', 'handshake succeeds and data flows');
  t.same(ok.serverSawRoles, ['os:admin'], 'server sees the role as Organization');
  t.equal(ok.rejected, 0);
});

t.test('a client certificate from an unknown CA is rejected', async (t) => {
  const talos = await generateTalosCa();
  const stranger = await generateTalosCa(); // same subject O=talos, different key
  const foreign = await issueTalosClientCert(stranger, { roles: ['os:admin'] });
  const out = await roundTrip(talos, [talos], foreign, [talos]);
  t.equal(out.reply, '', 'no data reaches the client');
  t.equal(out.serverSawRoles, undefined, 'the server never accepted the connection');
  t.equal(out.rejected, 1, 'the server rejected the handshake');
});

t.test('old + new CA in the trusted bundle accepts clients from either (rotation "accepted" phase)', async (t) => {
  const oldCa = await generateTalosCa();
  const newCa = await generateTalosCa();
  const third = await generateTalosCa();
  for (const [name, ca] of [
    ['old', oldCa],
    ['new', newCa],
  ] as const) {
    const client = await issueTalosClientCert(ca, { roles: ['os:reader'] });
    const out = await roundTrip(oldCa, [oldCa, newCa], client, [oldCa]);
    t.equal(out.reply, 'hello', `client from the ${name} CA accepted`);
  }
  const out = await roundTrip(oldCa, [oldCa, newCa], await issueTalosClientCert(third, { roles: ['os:admin'] }), [
    oldCa,
  ]);
  t.equal(out.rejected, 1, 'a third CA is still rejected');
});

t.test('a client that does not trust the server CA refuses the server', async (t) => {
  const talos = await generateTalosCa();
  const other = await generateTalosCa();
  const admin = await issueTalosClientCert(talos, { roles: ['os:admin'] });
  const out = await roundTrip(talos, [talos], admin, [other]);
  t.equal(out.reply, '');
  t.equal(out.serverSawRoles, undefined);
});

t.test('https with the Kubernetes CA (ECDSA P-256, SEC1 keys) and the admin cert', async (t) => {
  const k8s = await generateKubernetesCa();
  const serving = await issueLeafCert(k8s, {
    commonName: 'kube-apiserver',
    usages: ['serverAuth'],
    ipAddresses: ['127.0.0.1'],
  });
  const admin = await issueKubernetesAdminCert(k8s);
  const server = https.createServer(
    {
      cert: serving.certPem,
      key: keyPemForTls(serving.key),
      ca: k8s.certPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
      res.end(JSON.stringify({ cn: peer.subject.CN, o: peer.subject.O }));
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port,
            path: '/version',
            ca: k8s.certPem,
            cert: admin.certPem,
            key: keyPemForTls(admin.key),
          },
          (res) => {
            let data = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (data += c));
            res.on('end', () => resolve(data));
          },
        )
        .on('error', reject);
    });
    t.same(JSON.parse(body), { cn: 'admin', o: 'system:masters' });
  } finally {
    server.close();
    await once(server, 'close');
  }
});
