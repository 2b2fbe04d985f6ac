/**
 * The detached lab's OpenSSL settings (src/lab/process/daemon-openssl.ts): its TLS servers send no TLS 1.3
 * session tickets, and a user's own OpenSSL configuration for Node is left alone.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import t from 'tap';

import { keyPemForTls } from '../../../src/pki/index.js';
import { getContext, parseTalosconfig } from '../../../src/talos/talosconfig.js';
import {
  DAEMON_OPENSSL_CONFIG,
  daemonOpenssl,
  userConfiguresOpenssl,
} from '../../../src/lab/process/daemon-openssl.js';
import { makePki } from '../../talos/fixtures/server.js';
import { OLD_CLUSTER_SA_KEY, ROTATE, childEnv, labDir, requireBuild, run } from '../e2e/fixtures/cli.js';

requireBuild(t);

t.test("a user's OpenSSL configuration for Node wins", async (t) => {
  t.notOk(userConfiguresOpenssl({}));
  t.notOk(userConfiguresOpenssl({ NODE_OPTIONS: '--max-old-space-size=512' }));
  t.ok(userConfiguresOpenssl({ OPENSSL_CONF: '/etc/ssl/fips.cnf' }));
  t.ok(userConfiguresOpenssl({ NODE_OPTIONS: '--openssl-config=/etc/ssl/node.cnf' }));
  t.ok(userConfiguresOpenssl({ NODE_OPTIONS: '--openssl-shared-config' }));
  t.equal(daemonOpenssl('/labs/a', { OPENSSL_CONF: '/etc/ssl/fips.cnf' }), null);
  t.same(daemonOpenssl('/labs/a', {}), { file: '/labs/a/openssl.cnf', flag: '--openssl-config=/labs/a/openssl.cnf' });
  t.match(DAEMON_OPENSSL_CONFIG, /^nodejs_conf = nodejs_init$/m);
  t.match(DAEMON_OPENSSL_CONFIG, /^NumTickets = 0$/m);
});

/**
 * Session tickets a verified TLS 1.3 client has received by the time the server's first application data
 * arrives: a server sends its tickets right after the handshake, before any data, so none can come later.
 * `hello` is what the client sends to make the server answer.
 */
function ticketsFrom(
  options: tls.ConnectionOptions,
  hello: Buffer,
): Promise<{ protocol: string | null; tickets: number }> {
  return new Promise((resolve, reject) => {
    let tickets = 0;
    const socket = tls.connect({ ...options, ALPNProtocols: ['h2'] });
    socket.on('session', () => (tickets += 1));
    socket.once('error', reject);
    socket.once('secureConnect', () => socket.write(hello));
    socket.once('data', () => {
      const protocol = socket.getProtocol();
      socket.destroy();
      resolve({ protocol, tickets });
    });
  });
}

/** An HTTP/2 client preface and an empty SETTINGS frame: apid (gRPC over HTTP/2) answers with its SETTINGS. */
const H2_HELLO = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
]);

t.test("the lab's servers send no session tickets; Node's defaults send two", async (t) => {
  // The detector: a server with Node's defaults, the same client code.
  const pki = await makePki();
  const server = tls.createServer({ cert: pki.server.certPem, key: keyPemForTls(pki.server.key) }, (s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.write('hello'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const control = await ticketsFrom(
    { host: '127.0.0.1', port: (server.address() as { port: number }).port, ca: pki.ca.certPem },
    Buffer.from('hi'),
  );
  t.same(control, { protocol: 'TLSv1.3', tickets: 2 }, 'a default Node server sends two');

  const dir = await labDir(t);
  // The lab's own settings, whatever OpenSSL configuration the environment running the tests has
  // (the runner unsets NODE_OPTIONS already).
  const env = childEnv();
  delete env.OPENSSL_CONF;
  const up = await run(
    ROTATE,
    ['lab', 'up', '--dir', dir, '--detach', ...OLD_CLUSTER_SA_KEY, '--control-planes', '1'],
    {
      env,
    },
  );
  t.equal(up.code, 0, up.stderr);
  t.equal(await fs.readFile(path.join(dir, 'openssl.cnf'), 'utf8'), DAEMON_OPENSSL_CONFIG);
  const context = getContext(parseTalosconfig(await fs.readFile(path.join(dir, 'talosconfig'), 'utf8')));
  const lab = await ticketsFrom(
    {
      host: context.endpoints[0]!,
      port: 50000,
      ca: context.caPem,
      cert: context.certPem,
      key: keyPemForTls(context.key),
    },
    H2_HELLO,
  );
  t.same(lab, { protocol: 'TLSv1.3', tickets: 0 }, "the lab's apid sends none");
});
