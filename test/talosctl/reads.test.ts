/**
 * Conformance: the real talosctl reads from a lab as from real Talos, through a control-plane endpoint
 * that proxies to the node (`-e CP -n other`) and directly (`-e X -n X`), for both Kubernetes CA styles
 * with the matching talosctl line (legacy + v1.13, KubeAPIServerCAConfig document + v1.14). Each check
 * asserts what talosctl shows, not only its exit code.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { issueTalosClientCert, loadCa } from '../../src/pki/index.js';
import { getBundleCa, loadSecretsBundle } from '../../src/talos/secrets-bundle.js';
import { TALOS_TAG } from '../../src/lab/setup/cluster.js';
import { requireBuild } from '../lab/e2e/fixtures/cli.js';
import { tableRows, talosctlLab, yamlResources, type Style, type TalosctlLab } from './fixtures/lab.js';

requireBuild(t);

const fromB64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const pemBlocks = (s: string): string[] =>
  s.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];

/** GET on the lab apiserver with a kubeconfig's own CA and client certificate (TLS verified). */
function kubeGet(kubeconfig: KubeConfig, urlPath: string): Promise<{ status: number; body: string }> {
  const cluster = kubeconfig.clusters[0]!.cluster;
  const user = kubeconfig.users[0]!.user;
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(urlPath, cluster.server),
      {
        ca: fromB64(cluster['certificate-authority-data']),
        cert: fromB64(user['client-certificate-data']),
        key: fromB64(user['client-key-data']),
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface KubeConfig {
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority-data': string } }>;
  users: Array<{ name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string } }>;
}

function readsOf(style: Style): void {
  t.test(`talosctl reads from a ${style}-style lab`, async (t) => {
    const lab: TalosctlLab = await talosctlLab(t, style);
    const { cp1, cp2, worker } = lab;
    const serverTag = TALOS_TAG[style];
    const ok = (r: { code: number | null; stderr: string }, what: string) =>
      t.equal(r.code, 0, `${what}: exit 0 (stderr: ${r.stderr.trim()})`);

    t.test('version through the endpoint and directly', async (t) => {
      for (const [e, n] of [
        [cp1, worker],
        [cp1, cp2],
        [worker, worker],
        [cp2, cp2],
      ] as const) {
        const r = lab.run(e, n, ['version']);
        ok(r, `-e ${e} -n ${n} version`);
        t.match(r.stdout, new RegExp(`Client:\\n\\tTag:\\s+${lab.tag.replace(/\./g, '\\.')}\\n`), 'the client tag');
        t.match(
          r.stdout,
          new RegExp(
            `Server:\\n\\tNODE:\\s+${n.replace(/\./g, '\\.')}\\n\\tTag:\\s+${serverTag.replace(/\./g, '\\.')}\\n`,
          ),
          `the server tag of ${n}`,
        );
        t.match(r.stdout, /\tEnabled:\s+RBAC\n/);
        // Talos Makefile: SHA = git describe --abbrev=8.
        t.match(
          r.stdout,
          style === 'legacy' ? /Server:[\s\S]*\tSHA:\s+3ebd10a7\n/ : /Server:[\s\S]*\tSHA:\s+[0-9a-f]{8}\n/,
          'an 8-digit SHA',
        );
      }
      // A worker endpoint has no client certificate to forward with (apid director: "no request forwarding").
      const r = lab.run(worker, cp1, ['version']);
      t.not(r.code, 0, 'a worker endpoint cannot proxy');
      t.match(r.stderr, 'rpc error: code = PermissionDenied desc = no request forwarding');
    });

    t.test('get machineconfig -o yaml: the node type and its CAs', async (t) => {
      for (const [e, n] of [
        [cp1, worker],
        [cp1, cp2],
        [cp2, cp2],
      ] as const) {
        const r = lab.run(e, n, ['get', 'machineconfig', '-o', 'yaml']);
        ok(r, `-e ${e} -n ${n} get machineconfig`);
        const docs = yamlResources(r.stdout);
        t.equal(docs.length, 1);
        const d = docs[0]!;
        t.equal(d.node, n);
        t.match(d.metadata, {
          namespace: 'config',
          type: 'MachineConfigs.config.talos.dev',
          id: 'v1alpha1',
          annotations: { 'talos.dev/yaml-spec': '1' },
        });
        t.type(d.spec, 'string', 'the spec is the config text');
        type ConfigDoc = {
          version?: string;
          kind?: string;
          machine: { type: string; ca: { crt: string; key?: string } };
          cluster: { ca: { crt: string } };
          issuingCA?: { cert: string };
          acceptedCAs?: unknown;
        };
        const configDocs = parseAllDocuments(d.spec as string).map((x) => x.toJS() as ConfigDoc);
        const v1 = configDocs.find((x) => x.version === 'v1alpha1')!;
        const role = n === worker ? 'worker' : 'controlplane';
        t.equal(v1.machine.type, role, `${n} is a ${role}`);
        t.equal(fromB64(v1.machine.ca.crt), lab.osCaPem, 'the Talos CA');
        t.equal(
          v1.machine.ca.key === '' || v1.machine.ca.key === undefined,
          role === 'worker',
          'a key on control planes only',
        );
        const caDoc = configDocs.find((x) => x.kind === 'KubeAPIServerCAConfig');
        if (style === 'legacy') {
          t.equal(caDoc, undefined, 'no KubeAPIServerCAConfig document in the legacy layout');
          t.equal(fromB64(v1.cluster.ca.crt), lab.k8sCaPem, 'the Kubernetes CA in .cluster.ca');
        } else if (role === 'controlplane') {
          t.equal(caDoc?.issuingCA?.cert, lab.k8sCaPem, "the Kubernetes CA as the document's issuing CA");
        } else {
          t.ok(
            (caDoc?.acceptedCAs as string[] | undefined)?.includes(lab.k8sCaPem),
            'the Kubernetes CA accepted by the worker',
          );
        }
      }
    });

    t.test('get members lists every lab node', async (t) => {
      for (const [e, n] of [
        [cp1, worker],
        [worker, worker],
      ] as const) {
        const r = lab.run(e, n, ['get', 'members']);
        ok(r, `-e ${e} -n ${n} get members`);
        const { header, rows } = tableRows(r.stdout);
        t.same(header, ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'HOSTNAME', 'MACHINE TYPE', 'OS', 'ADDRESSES']);
        const want = [cp1, cp2, worker]
          .map((a) => [
            n,
            'cluster',
            'Member',
            lab.hostnames[a]!,
            '1',
            lab.hostnames[a]!,
            a === worker ? 'worker' : 'controlplane',
            `Talos (${serverTag})`,
            `["${a}"]`,
          ])
          .sort((x, y) => (x[3]! < y[3]! ? -1 : 1));
        t.same(rows, want);
      }
      const cp = yamlResources(lab.run(cp1, cp2, ['get', 'members', lab.hostnames[cp1]!, '-o', 'yaml']).stdout)[0]!;
      t.same(cp.spec, {
        nodeId: (cp.spec as { nodeId: string }).nodeId,
        addresses: [cp1],
        hostname: lab.hostnames[cp1],
        machineType: 'controlplane',
        operatingSystem: `Talos (${serverTag})`,
        controlPlane: { port: 6443 },
      });
    });

    t.test(
      'get apicertificates: one accepted bundle on a worker, the proxy client certificate on control planes only',
      async (t) => {
        const r = lab.run(cp1, worker, ['get', 'apicertificates', '-o', 'yaml']);
        ok(r, 'worker apicertificates');
        const [w] = yamlResources(r.stdout) as Array<{
          metadata: Record<string, unknown>;
          spec: { acceptedCAs: Array<{ crt: string }>; client: unknown; server: { crt: string } };
        }>;
        t.match(w!.metadata, {
          namespace: 'secrets',
          type: 'ApiCertificates.secrets.talos.dev',
          id: 'api',
          owner: 'secrets.APIController',
        });
        t.equal(
          w!.spec.acceptedCAs.length,
          1,
          'a worker holds what trustd returned as ONE entry (secrets/api.go generateWorker)',
        );
        t.same(pemBlocks(fromB64(w!.spec.acceptedCAs[0]!.crt)), [lab.osCaPem]);
        t.equal(w!.spec.client, null, 'a worker has no client certificate (it cannot proxy)');
        t.same(
          Object.keys(w!.spec),
          ['acceptedCAs', 'client', 'server', 'skipVerifyingClientCert'],
          'APICertsSpec fields in order',
        );
        const serverCert = new X509Certificate(fromB64(w!.spec.server.crt));
        t.ok(
          serverCert.verify(new X509Certificate(lab.osCaPem).publicKey),
          'its server certificate is signed by the Talos CA (through trustd)',
        );
        const c = lab.run(cp2, cp2, ['get', 'apicertificates', '-o', 'yaml']);
        ok(c, 'control-plane apicertificates');
        const [cp] = yamlResources(c.stdout) as Array<{
          spec: { acceptedCAs: Array<{ crt: string }>; client?: { crt: string } };
        }>;
        t.same(
          cp!.spec.acceptedCAs.map((a) => fromB64(a.crt)),
          [lab.osCaPem],
        );
        t.match(
          new X509Certificate(fromB64(cp!.spec.client!.crt)).subject,
          /O=os:impersonator/,
          'the proxy client certificate',
        );
        const table = tableRows(lab.run(cp1, worker, ['get', 'apicertificates']).stdout);
        t.same(
          table.rows.map((x) => x.slice(0, 4)),
          [[worker, 'secrets', 'ApiCertificate', 'api']],
        );
      },
    );

    t.test(
      'get staticpods / staticpodstatus: the control-plane pods on a control plane, nothing on a worker',
      async (t) => {
        const pods = lab.run(cp1, cp2, ['get', 'staticpods']);
        ok(pods, 'staticpods on a control plane');
        const want = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
        t.same(
          tableRows(pods.stdout).rows.map((x) => [x[0], x[1], x[2], x[3]]),
          want.map((p) => [cp2, 'k8s', 'StaticPod', p]),
        );
        const statuses = lab.run(cp1, cp2, ['get', 'staticpodstatus']);
        ok(statuses, 'staticpodstatus on a control plane');
        const s = tableRows(statuses.stdout);
        t.same(s.header, ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', 'READY']);
        t.same(
          s.rows.map((x) => [x[2], x[3], x[5]]),
          want.map((p) => ['StaticPodStatus', `kube-system/${p}-${lab.hostnames[cp2]}`, 'True']),
        );
        const manifest = yamlResources(
          lab.run(cp2, cp2, ['get', 'staticpods', 'kube-apiserver', '-o', 'yaml']).stdout,
        )[0]!;
        t.match(manifest.spec, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'kube-apiserver', namespace: 'kube-system' },
        });
        for (const type of ['staticpods', 'staticpodstatus']) {
          const r = lab.run(cp1, worker, ['get', type]);
          ok(r, `${type} on a worker`);
          t.same(tableRows(r.stdout).rows, [], `no ${type} on a worker`);
        }
        const one = lab.run(cp1, worker, ['get', 'staticpods', 'kube-apiserver']);
        t.not(one.code, 0, 'a named static pod on a worker');
        t.match(
          one.stderr,
          "code = NotFound desc = resource StaticPods.kubernetes.talos.dev(k8s/kube-apiserver@undefined) doesn't exist",
        );
      },
    );

    t.test('kubeconfig: a working admin kubeconfig from a control plane, Unimplemented on a worker', async (t) => {
      const out = path.join(lab.dir, 'admin.kubeconfig');
      const r = lab.run(cp1, cp2, ['kubeconfig', out]);
      ok(r, 'kubeconfig from a control plane');
      const kc = parse(readFileSync(out, 'utf8')) as KubeConfig;
      t.equal(kc.clusters[0]!.cluster.server, lab.clusterEndpoint);
      // pkg/kubeconfig/generate.go: the issuing CA joined with the accepted ones (none yet).
      t.same(
        pemBlocks(fromB64(kc.clusters[0]!.cluster['certificate-authority-data'])),
        [lab.k8sCaPem],
        "trusts the lab's Kubernetes CA",
      );
      t.same(
        kc.contexts.map((c) => [c.name, c.context.cluster, c.context.user]),
        [[`admin@${lab.clusterName}`, lab.clusterName, `admin@${lab.clusterName}`]],
      );
      const cert = new X509Certificate(fromB64(kc.users[0]!.user['client-certificate-data']));
      t.ok(
        cert.verify(new X509Certificate(lab.k8sCaPem).publicKey),
        'the admin certificate is issued by the Kubernetes CA',
      );
      t.match(cert.subject, /O=system:masters/);
      const nodes = await kubeGet(kc, '/api/v1/nodes');
      t.equal(nodes.status, 200);
      t.same(
        (JSON.parse(nodes.body) as { items: Array<{ metadata: { name: string } }> }).items
          .map((i) => i.metadata.name)
          .sort(),
        Object.values(lab.hostnames).sort(),
      );
      const kubectl = spawnSync('kubectl', ['--kubeconfig', out, 'get', 'nodes', '-o', 'name'], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (kubectl.error)
        t.comment(`kubectl not run (${kubectl.error.message}); the TLS GET above used the same kubeconfig`);
      else
        t.same(
          kubectl.stdout.trim().split('\n').sort(),
          Object.values(lab.hostnames)
            .map((h) => `node/${h}`)
            .sort(),
          `kubectl get nodes (stderr: ${kubectl.stderr.trim()})`,
        );

      const none = path.join(lab.dir, 'worker.kubeconfig');
      const w = lab.run(cp1, worker, ['kubeconfig', none]);
      t.not(w.code, 0, 'refused on a worker');
      t.match(w.stderr, 'rpc error: code = Unimplemented desc = kubeconfig is only available on control plane nodes');
      t.notOk(existsSync(none), 'nothing written');
    });

    t.test(
      'an os:reader: non-sensitive reads work, sensitive resources and kubeconfig are refused (not redacted)',
      async (t) => {
        const os = getBundleCa(await loadSecretsBundle(path.join(lab.dir, 'secrets.yaml')), 'os');
        const reader = await issueTalosClientCert(await loadCa(os.certPem, os.key, 'the lab Talos CA'), {
          roles: ['os:reader'],
        });
        const cfg = parse(readFileSync(lab.talosconfig, 'utf8')) as {
          context: string;
          contexts: Record<string, { crt: string; key: string }>;
        };
        const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
        cfg.contexts[cfg.context] = {
          ...cfg.contexts[cfg.context]!,
          crt: b64(reader.certPem),
          key: b64(reader.key.reveal()),
        };
        const readerConfig = path.join(lab.dir, 'reader-talosconfig');
        writeFileSync(readerConfig, stringify(cfg), { mode: 0o600 });
        const as = (n: string, args: string[]) => lab.run(cp1, n, args, { talosconfig: readerConfig });
        ok(as(worker, ['version']), 'reader version');
        const members = as(worker, ['get', 'members']);
        ok(members, 'reader get members');
        t.equal(tableRows(members.stdout).rows.length, 3);
        // internal/app/resources/access.go: a Sensitive definition needs os:admin, the whole read is refused.
        for (const type of ['machineconfig', 'apicertificates']) {
          const r = as(worker, ['get', type]);
          t.not(r.code, 0, `reader get ${type} refused`);
          t.match(r.stderr, 'rpc error: code = PermissionDenied desc = not authorized');
          t.same(tableRows(r.stdout).rows, [], 'nothing shown');
        }
        // Kubeconfig needs os:admin (internal/app/machined/pkg/system/services/machined.go rules).
        const kc = as(cp2, ['kubeconfig', path.join(lab.dir, 'reader.kubeconfig')]);
        t.not(kc.code, 0);
        t.match(kc.stderr, 'code = PermissionDenied desc = not authorized');
      },
    );
  });
}

readsOf('legacy');
readsOf('document');
