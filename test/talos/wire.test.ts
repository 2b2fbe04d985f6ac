/**
 * Byte-level checks of every message the client sends or decodes, against bytes written by hand from the
 * field numbers of the real Talos/COSI protos (talos-behaviour.md §3). If a field number, type or name in proto/
 * drifted from the real API, one of these fails.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { Secret } from '../../src/domain/secret.js';
import { talosProtos } from '../../src/talos/proto.js';
import {
  applyConfigurationRequest,
  durationFromMs,
  getRequest,
  listRequest,
  watchRequest,
} from '../../src/talos/requests.js';
import {
  decodeApiCertificates,
  decodeIdentity,
  decodeKubernetesRootSecrets,
  decodeMachineConfig,
  decodeMember,
  decodeOsRootSecrets,
  decodeSecretsStatus,
  decodeServiceState,
  SECRET_STATUS_RESOURCE,
  netIpToString,
  ResourceDecodeError,
} from '../../src/talos/resources.js';
import { bytes, hex, ld, msg, vfield } from './fixtures/wire.js';

const protos = talosProtos();
const machine = protos.machineService;
const state = protos.stateService;
const security = protos.securityService;

const CERT_PEM = '-----BEGIN CERTIFICATE-----\nMIIBCERT\n-----END CERTIFICATE-----\n';
const KEY_PEM = '-----BEGIN ED25519 PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKEY\n-----END ED25519 PRIVATE KEY-----\n';

t.test('google.protobuf.Empty requests are zero bytes (Version, Kubeconfig)', async (t) => {
  t.equal(machine.Version.requestSerialize({}).length, 0);
  t.equal(machine.Kubeconfig.requestSerialize({}).length, 0);
  t.equal(machine.Version.path, '/machine.MachineService/Version');
  t.equal(machine.Kubeconfig.path, '/machine.MachineService/Kubeconfig');
  t.equal(machine.ApplyConfiguration.path, '/machine.MachineService/ApplyConfiguration');
  t.equal(machine.Kubeconfig.responseStream, true);
  t.equal(machine.Version.responseStream, false);
});

t.test(
  'ApplyConfigurationRequest: data=1 bytes, mode=4 enum, dry_run=5 bool, try_mode_timeout=6 Duration',
  async (t) => {
    const yaml = 'version: v1alpha1\nmachine:\n  type: worker\n';
    const ser = (v: Parameters<typeof machine.ApplyConfiguration.requestSerialize>[0]) =>
      hex(machine.ApplyConfiguration.requestSerialize(v));

    // What rotate-ca sends: NO_REBOOT (2), dry_run false (omitted, proto3 zero).
    t.equal(ser(applyConfigurationRequest(yaml, { mode: 'NO_REBOOT' })), hex(bytes(ld(1, yaml), vfield(4, 2))));
    t.equal(
      ser(applyConfigurationRequest(yaml, { mode: 'AUTO', dryRun: true })),
      hex(bytes(ld(1, yaml), vfield(4, 1), vfield(5, true))),
    );
    t.equal(ser(applyConfigurationRequest(yaml, { mode: 'STAGED' })), hex(bytes(ld(1, yaml), vfield(4, 3))));
    // REBOOT is enum value 0: omitted on the wire, like Go.
    t.equal(ser(applyConfigurationRequest(yaml, { mode: 'REBOOT' })), hex(bytes(ld(1, yaml))));
    // TRY (4) with 61.5 s: Duration{seconds=1: 61, nanos=2: 500000000}.
    t.equal(
      ser(applyConfigurationRequest(new TextEncoder().encode(yaml), { mode: 'TRY', tryModeTimeoutMs: 61_500 })),
      hex(bytes(ld(1, yaml), vfield(4, 4), msg(6, vfield(1, 61), vfield(2, 500_000_000)))),
    );
    t.equal(
      ser(applyConfigurationRequest(yaml, { mode: 'TRY', tryModeTimeoutMs: 60_000 })),
      hex(bytes(ld(1, yaml), vfield(4, 4), msg(6, vfield(1, 60)))),
    );

    // A server (the emulated cluster) decodes what Go's client writes.
    const decoded = machine.ApplyConfiguration.requestDeserialize(
      bytes(ld(1, yaml), vfield(4, 2), vfield(5, true), msg(6, vfield(1, 90))),
    );
    t.equal(Buffer.from(decoded.data!).toString(), yaml);
    t.equal(decoded.mode, 'NO_REBOOT');
    t.equal(decoded.dry_run, true);
    t.same(decoded.try_mode_timeout, { seconds: 90, nanos: 0 });
    // Fields 2 and 3 (removed upstream) are skipped, not misread.
    const legacy = machine.ApplyConfiguration.requestDeserialize(bytes(ld(1, 'x'), vfield(2, true), vfield(3, true)));
    t.equal(legacy.mode, 'REBOOT');
    t.equal(legacy.dry_run, false);
    t.throws(() => durationFromMs(-1));
  },
);

t.test(
  'VersionResponse: messages=1 Version{metadata=1, version=2 VersionInfo{tag..arch=1..6}, platform=3, features=4}',
  async (t) => {
    const wire = bytes(
      msg(
        1,
        msg(1, ld(1, '10.5.0.2')),
        msg(2, ld(1, 'v1.9.5'), ld(2, 'a1b2c3'), ld(3, '2025-01-01'), ld(4, 'go1.23'), ld(5, 'Talos'), ld(6, 'arm64')),
        msg(3, ld(1, 'metal'), ld(2, 'metal')),
        msg(4, vfield(1, true)),
      ),
    );
    const res = machine.Version.responseDeserialize(wire);
    const v = res.messages?.[0];
    t.equal(v?.metadata?.hostname, '10.5.0.2');
    t.same(v?.version, {
      tag: 'v1.9.5',
      sha: 'a1b2c3',
      built: '2025-01-01',
      go_version: 'go1.23',
      os: 'Talos',
      arch: 'arm64',
    });
    t.same(v?.platform, { name: 'metal', mode: 'metal' });
    t.equal(v?.features?.rbac, true);
    // And the server side writes the same bytes.
    t.equal(hex(machine.Version.responseSerialize(res)), hex(wire));
  },
);

t.test(
  'ApplyConfigurationResponse: messages=1 ApplyConfiguration{metadata=1, warnings=2, mode=3, mode_details=4}',
  async (t) => {
    const wire = bytes(msg(1, ld(2, 'w1'), ld(2, 'w2'), vfield(3, 2), ld(4, 'Applied configuration without a reboot')));
    const res = machine.ApplyConfiguration.responseDeserialize(wire);
    t.same(res.messages?.[0], {
      metadata: null,
      warnings: ['w1', 'w2'],
      mode: 'NO_REBOOT',
      mode_details: 'Applied configuration without a reboot',
    });
    // An enum value this build does not know stays a number.
    t.equal(machine.ApplyConfiguration.responseDeserialize(bytes(msg(1, vfield(3, 9)))).messages?.[0]?.mode, 9);
  },
);

t.test(
  'common.Data: metadata=1 Metadata{hostname=1, error=2, status=3 google.rpc.Status{code=1, message=2}}, bytes=2',
  async (t) => {
    const payload = [0x1f, 0x8b, 0x08, 0x00, 0xff];
    const d = machine.Kubeconfig.responseDeserialize(
      bytes(msg(1, ld(1, 'cp-1'), ld(2, 'boom'), msg(3, vfield(1, 14), ld(2, 'unavailable'))), ld(2, payload)),
    );
    t.equal(d.metadata?.hostname, 'cp-1');
    t.equal(d.metadata?.error, 'boom');
    t.equal(d.metadata?.status?.code, 14);
    t.equal(d.metadata?.status?.message, 'unavailable');
    t.same([...(d.bytes ?? [])], payload);
    t.equal(hex(machine.Kubeconfig.responseSerialize({ bytes: Buffer.from(payload) })), hex(bytes(ld(2, payload))));
  },
);

t.test('COSI requests: Get/List/Watch with options and api_version', async (t) => {
  t.equal(state.Get.path, '/cosi.resource.State/Get');
  t.equal(state.List.path, '/cosi.resource.State/List');
  t.equal(state.Watch.path, '/cosi.resource.State/Watch');
  t.equal(state.List.responseStream, true);
  t.equal(state.Watch.responseStream, true);

  // GetRequest: namespace=1, type=2, id=3, options=4 (empty GetOptions, present as in the Go client).
  t.equal(
    hex(state.Get.requestSerialize(getRequest('config', 'MachineConfigs.config.talos.dev', 'v1alpha1'))),
    hex(bytes(ld(1, 'config'), ld(2, 'MachineConfigs.config.talos.dev'), ld(3, 'v1alpha1'), ld(4, []))),
  );
  // ListRequest: namespace=1, type=2, options=3.
  t.equal(
    hex(state.List.requestSerialize(listRequest('cluster', 'Members.cluster.talos.dev'))),
    hex(bytes(ld(1, 'cluster'), ld(2, 'Members.cluster.talos.dev'), ld(3, []))),
  );
  // WatchRequest: namespace=1, type=2, id=3 (optional), options=4 (tail_events=0 → empty), api_version=5 = 1.
  t.equal(
    hex(state.Watch.requestSerialize(watchRequest('runtime', 'Services.v1alpha1.talos.dev', 'kubelet'))),
    hex(bytes(ld(1, 'runtime'), ld(2, 'Services.v1alpha1.talos.dev'), ld(3, 'kubelet'), ld(4, []), vfield(5, 1))),
  );
  t.equal(
    hex(state.Watch.requestSerialize(watchRequest('runtime', 'Services.v1alpha1.talos.dev'))),
    hex(bytes(ld(1, 'runtime'), ld(2, 'Services.v1alpha1.talos.dev'), ld(4, []), vfield(5, 1))),
  );
  // An explicitly empty id (proto3 optional) is sent, so "no id" and "id ''" stay distinct.
  t.equal(
    hex(state.Watch.requestSerialize({ namespace: 'n', type: 't', id: '' })),
    hex(bytes(ld(1, 'n'), ld(2, 't'), ld(3, ''))),
  );

  // WatchOptions fields as the server decodes them: bootstrap_contents=1, tail_events=2, label_query=3,
  // id_query=4 IDQuery{regexp=1}, aggregated=5, start_from_bookmark=6, bootstrap_bookmark=7.
  const w = state.Watch.requestDeserialize(
    bytes(
      ld(1, 'ns'),
      ld(2, 'T'),
      msg(
        4,
        vfield(1, true),
        vfield(2, 3),
        msg(3, msg(1, ld(1, 'k'), vfield(2, 1), ld(3, 'v'))),
        msg(4, ld(1, '^a')),
        vfield(5, true),
        ld(6, [1, 2]),
        vfield(7, true),
      ),
      vfield(5, 1),
    ),
  );
  t.equal(w.id, undefined, 'absent optional id decodes as undefined');
  t.equal(w.api_version, 1);
  t.equal(w.options?.bootstrap_contents, true);
  t.equal(w.options?.tail_events, 3);
  t.same(w.options?.label_query, [{ terms: [{ key: 'k', op: 'EQUAL', value: ['v'], invert: false }] }]);
  t.same(w.options?.id_query, { regexp: '^a' });
  t.equal(w.options?.aggregated, true);
  t.same([...(w.options?.start_from_bookmark ?? [])], [1, 2]);
  t.equal(w.options?.bootstrap_bookmark, true);
  const withId = state.Watch.requestDeserialize(bytes(ld(1, 'ns'), ld(2, 'T'), ld(3, 'kubelet')));
  t.equal(withId.id, 'kubelet');
});

t.test(
  'LabelTerm: key=1, op=2 Operation, value=3 repeated string, invert=5 (cosi-project/specification resource.proto)',
  async (t) => {
    // ListRequest.options=3 ListOptions{label_query=1 LabelQuery{terms=1 LabelTerm}, id_query=2 IDQuery{regexp=1}}.
    const term = (...parts: ReturnType<typeof ld>[]) => msg(1, msg(1, ...parts));
    const req = {
      namespace: 'cluster',
      type: 'Members.cluster.talos.dev',
      options: {
        label_query: [
          {
            terms: [
              { key: 'role', op: 'IN' as const, value: ['cp', 'worker'], invert: true },
              { key: 'zone', op: 'EXISTS' as const },
            ],
          },
        ],
        id_query: { regexp: '^n' },
      },
    };
    const expected = bytes(
      ld(1, 'cluster'),
      ld(2, 'Members.cluster.talos.dev'),
      msg(
        3,
        // Each value is its own field-3 entry (strings are never packed); EXISTS = 0 and invert=false are omitted.
        msg(
          1,
          msg(1, ld(1, 'role'), vfield(2, 3), ld(3, 'cp'), ld(3, 'worker'), vfield(5, true)),
          msg(1, ld(1, 'zone')),
        ),
        msg(2, ld(1, '^n')),
      ),
    );
    t.equal(hex(state.List.requestSerialize(req)), hex(expected));
    const back = state.List.requestDeserialize(expected);
    t.same(back.options?.label_query, [
      {
        terms: [
          { key: 'role', op: 'IN', value: ['cp', 'worker'], invert: true },
          { key: 'zone', op: 'EXISTS', value: [], invert: false },
        ],
      },
    ]);
    // Every Operation value of the specification, by number.
    const ops = ['EXISTS', 'EQUAL', 'NOT_EXISTS', 'IN', 'LT', 'LTE', 'LT_NUMERIC', 'LTE_NUMERIC'];
    ops.forEach((op, n) => {
      const one = state.List.requestDeserialize(bytes(msg(3, term(ld(1, 'k'), vfield(2, n), ld(3, '1')))));
      t.equal(one.options?.label_query?.[0]?.terms?.[0]?.op, op, `Operation ${n} = ${op}`);
    });
    // LT_NUMERIC with one value: a Go server reads value[0].
    t.same(
      state.List.requestDeserialize(bytes(msg(3, term(ld(1, 'n'), vfield(2, 6), ld(3, '10'))))).options
        ?.label_query?.[0]?.terms?.[0]?.value,
      ['10'],
    );
  },
);

/** cosi.resource.Metadata bytes: namespace=1..annotations=11, Timestamp{seconds=1, nanos=2}. */
const metadataBytes = msg(
  1,
  ld(1, 'config'),
  ld(2, 'MachineConfigs.config.talos.dev'),
  ld(3, 'v1alpha1'),
  ld(4, '7'),
  ld(5, 'config.MachineConfigController'),
  ld(6, 'running'),
  msg(7, vfield(1, 1_700_000_000), vfield(2, 5)),
  msg(8, vfield(1, 1_700_000_100)),
  ld(9, 'fin-a'),
  msg(10, ld(1, 'role'), ld(2, 'cp')),
  msg(11, ld(1, 'talos.dev/yaml-spec'), ld(2, '1')),
);

t.test(
  'GetResponse/ListResponse: resource=1 Resource{metadata=1 Metadata, spec=2 Spec{proto_spec=1, yaml_spec=2}}',
  async (t) => {
    const wire = bytes(msg(1, metadataBytes, msg(2, ld(1, [0x0a, 0x01, 0x41]), ld(2, 'spec: yaml\n'))));
    for (const method of [state.Get, state.List] as const) {
      const r = method.responseDeserialize(wire).resource;
      t.same(r?.metadata, {
        namespace: 'config',
        type: 'MachineConfigs.config.talos.dev',
        id: 'v1alpha1',
        version: '7',
        owner: 'config.MachineConfigController',
        phase: 'running',
        created: { seconds: 1_700_000_000, nanos: 5 },
        updated: { seconds: 1_700_000_100, nanos: 0 },
        finalizers: ['fin-a'],
        labels: { role: 'cp' },
        annotations: { 'talos.dev/yaml-spec': '1' },
      });
      t.same([...(r?.spec?.proto_spec ?? [])], [0x0a, 0x01, 0x41]);
      t.equal(r?.spec?.yaml_spec, 'spec: yaml\n');
    }
  },
);

t.test('WatchResponse: event=1 repeated Event{resource=1, event_type=2, old=3, error=4, bookmark=5}', async (t) => {
  t.same(state.Watch.responseDeserialize(Buffer.alloc(0)), { event: [] }, 'the initial "ready" response is empty');
  const res = state.Watch.responseDeserialize(
    bytes(
      msg(1, msg(1, metadataBytes), vfield(2, 2), msg(3, metadataBytes), ld(5, [9, 9])),
      msg(1, vfield(2, 0)),
      msg(1, vfield(2, 1)),
      msg(1, vfield(2, 3)),
      msg(1, vfield(2, 4), ld(4, 'buffer overrun')),
      msg(1, vfield(2, 5)),
    ),
  );
  const events = res.event ?? [];
  t.same(
    events.map((e) => e.event_type),
    ['DESTROYED', 'CREATED', 'UPDATED', 'BOOTSTRAPPED', 'ERRORED', 'NOOP'],
  );
  t.equal(events[0]?.resource?.metadata?.id, 'v1alpha1');
  t.equal(events[0]?.old?.metadata?.version, '7');
  t.same([...(events[0]?.bookmark ?? [])], [9, 9]);
  t.equal(events[0]?.error, undefined);
  t.equal(events[4]?.error, 'buffer overrun');
  // Server side: an event encodes in field-number order.
  t.equal(
    hex(
      state.Watch.responseSerialize({ event: [{ event_type: 'DESTROYED', resource: { spec: { yaml_spec: 'x' } } }] }),
    ),
    hex(bytes(msg(1, msg(1, msg(2, ld(2, 'x'))), vfield(2, 2)))),
  );
});

t.test('MachineConfigSpec: yaml_marshalled=1 bytes; yaml_spec fallback', async (t) => {
  const yaml =
    '---\nversion: v1alpha1\nmachine:\n  type: controlplane\n---\napiVersion: v1alpha1\nkind: KubeAPIServerCAConfig\n';
  const spec = bytes(ld(1, yaml));
  t.equal(hex(protos.specs.machineConfig.encode({ yaml_marshalled: Buffer.from(yaml) })), hex(spec));
  const decoded = decodeMachineConfig({
    metadata: { id: 'v1alpha1', version: '12' },
    spec: { proto_spec: spec, yaml_spec: '' },
  });
  t.same(decoded, { yaml, version: '12' });
  // Fallback: yaml_spec holds the whole config as one YAML string scalar.
  const yamlSpec = `|\n${yaml
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n')}`;
  t.same(
    decodeMachineConfig({ metadata: { version: '3' }, spec: { proto_spec: Buffer.alloc(0), yaml_spec: yamlSpec } }),
    { yaml, version: '3' },
  );
  t.throws(
    () => decodeMachineConfig({ metadata: {}, spec: { proto_spec: Buffer.alloc(0), yaml_spec: 'a: b\n' } }),
    ResourceDecodeError,
  );
  t.throws(() => decodeMachineConfig({ metadata: {}, spec: null }), ResourceDecodeError);
  t.throws(() => decodeMachineConfig({ metadata: null, spec: { proto_spec: spec } }), ResourceDecodeError);
});

t.test(
  'OSRootSpec: issuing_ca=1, cert_sani_ps=2 NetIP{ip=1}, cert_sandns_names=3, token=4, accepted_c_as=5',
  async (t) => {
    const wire = bytes(
      msg(1, ld(1, CERT_PEM), ld(2, KEY_PEM)),
      msg(2, ld(1, [10, 5, 0, 2])),
      msg(2, ld(1, [0xfd, 0, ...Array(13).fill(0), 2])),
      ld(3, 'cp-1'),
      ld(3, 'talos.example'),
      ld(4, 'abcdef.0123456789abcdef'),
      msg(5, ld(1, 'OLD-CA-PEM')),
      msg(5, ld(1, CERT_PEM)),
    );
    const spec = protos.specs.osRoot.decode(wire);
    t.equal(Buffer.from(spec.issuing_ca!.key!).toString(), KEY_PEM);
    t.equal(hex(protos.specs.osRoot.encode(spec)), hex(wire));
    const decoded = decodeOsRootSecrets({ metadata: { id: 'os' }, spec: { proto_spec: wire } });
    t.equal(decoded.issuingCa?.certPem, CERT_PEM);
    t.ok(decoded.issuingCa?.key instanceof Secret);
    t.equal(decoded.issuingCa?.key?.reveal(), KEY_PEM);
    t.equal(`${decoded.issuingCa?.key}`, '(sensitive)');
    t.notMatch(JSON.stringify(decoded), /PRIVATE KEY|abcdef\.0123/, 'keys and token never serialise');
    t.same(decoded.certSanIps, ['10.5.0.2', 'fd00::2']);
    t.same(decoded.certSanDnsNames, ['cp-1', 'talos.example']);
    t.equal(decoded.token.reveal(), 'abcdef.0123456789abcdef');
    t.same(decoded.acceptedCas, ['OLD-CA-PEM', CERT_PEM]);
    // A worker: issuing CA dropped.
    const worker = decodeOsRootSecrets({ metadata: {}, spec: { proto_spec: bytes(msg(5, ld(1, CERT_PEM))) } });
    t.equal(worker.issuingCa, null);
  },
);

t.test(
  'APICertsSpec: client=2, server=3 PEMEncodedCertificateAndKey, accepted_c_as=4 repeated ' +
    'PEMEncodedCertificate, skip_verifying_client_cert=5',
  async (t) => {
    const OLD_CA = '-----BEGIN CERTIFICATE-----\nT0xEQ0E=\n-----END CERTIFICATE-----\n';
    const NEW_CA = '-----BEGIN CERTIFICATE-----\nTkVXQ0E=\n-----END CERTIFICATE-----\n';
    const wire = bytes(
      msg(2, ld(1, 'IMPERSONATOR-CRT'), ld(2, KEY_PEM)),
      msg(3, ld(1, CERT_PEM), ld(2, KEY_PEM)),
      msg(4, ld(1, NEW_CA)),
      msg(4, ld(1, OLD_CA)),
    );
    const spec = protos.specs.apiCerts.decode(wire);
    t.equal(Buffer.from(spec.server!.crt!).toString(), CERT_PEM);
    t.equal(spec.skip_verifying_client_cert, false);
    t.equal(hex(protos.specs.apiCerts.encode(spec)), hex(wire), 're-encodes to the same bytes');
    const decoded = decodeApiCertificates({ metadata: { id: 'api', version: '7' }, spec: { proto_spec: wire } });
    t.equal(decoded.version, '7');
    t.equal(decoded.client?.certPem, 'IMPERSONATOR-CRT');
    t.ok(decoded.client?.key instanceof Secret, 'keys wrapped as Secret');
    t.equal(decoded.server?.certPem, CERT_PEM);
    t.equal(decoded.server?.key?.reveal(), KEY_PEM);
    t.notMatch(JSON.stringify(decoded), /PRIVATE KEY/, 'keys never serialise');
    t.same(
      decoded.acceptedCAs.map((c) => c.certPem),
      [NEW_CA, OLD_CA],
      'in resource order',
    );
    // SHA-256 of the DER, i.e. of the base64-decoded body.
    const sha = (body: string) => createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex');
    t.same(
      decoded.acceptedCAs.map((c) => c.fingerprint),
      [sha('TkVXQ0E='), sha('T0xEQ0E=')],
    );
    t.equal(decoded.skipVerifyingClientCert, false);

    // A worker: no client certificate; maintenance mode sets field 5.
    const worker = decodeApiCertificates({
      metadata: { id: 'api', version: '2' },
      spec: { proto_spec: bytes(msg(3, ld(1, CERT_PEM), ld(2, KEY_PEM)), msg(4, ld(1, OLD_CA)), vfield(5, true)) },
    });
    t.equal(worker.client, null);
    t.equal(worker.skipVerifyingClientCert, true);
    t.same(
      worker.acceptedCAs.map((c) => c.fingerprint),
      [sha('T0xEQ0E=')],
    );
    t.equal(
      hex(protos.specs.apiCerts.encode({ server: { crt: Buffer.from(CERT_PEM) }, skip_verifying_client_cert: true })),
      hex(bytes(msg(3, ld(1, CERT_PEM)), vfield(5, true))),
    );

    // Field 1 (the removed `ca`) from an old Talos is skipped, not misread.
    const old = decodeApiCertificates({
      metadata: {},
      spec: { proto_spec: bytes(msg(1, ld(1, OLD_CA)), msg(3, ld(1, CERT_PEM))) },
    });
    t.same(old.acceptedCAs, []);
    t.equal(old.server?.certPem, CERT_PEM);
    t.throws(
      () => decodeApiCertificates({ metadata: {}, spec: { proto_spec: bytes(msg(4, ld(1, 'not a certificate'))) } }),
      ResourceDecodeError,
      'an accepted CA that is no PEM certificate',
    );
    t.throws(
      () => decodeApiCertificates({ metadata: {}, spec: { proto_spec: Buffer.from([0x1a, 0x10, 0x01]) } }),
      ResourceDecodeError,
      'truncated bytes fail cleanly',
    );
  },
);

t.test('KubernetesRootSpec: the fields of talos-behaviour.md §3.3; unknown secret fields are skipped', async (t) => {
  const wire = bytes(
    ld(1, 'talos-default'),
    msg(2, ld(1, 'https://10.5.0.1:6443')),
    msg(3, ld(1, 'https://localhost:7445')),
    ld(4, 'kubernetes'),
    ld(4, 'kubernetes.default'),
    ld(6, 'cluster.local'),
    msg(7, ld(1, CERT_PEM), ld(2, KEY_PEM)),
    msg(8, ld(1, '-----BEGIN RSA PRIVATE KEY-----\nSA\n-----END RSA PRIVATE KEY-----\n')),
    msg(9, ld(1, 'AGG-CA'), ld(2, 'AGG-KEY')),
    ld(10, 'aescbc-secret-should-not-be-kept'),
    ld(11, 'tokenid'),
    ld(12, 'tokensecret'),
    ld(13, 'secretbox-secret'),
    msg(14, ld(1, [10, 96, 0, 1])),
    msg(15, ld(1, 'OLD-K8S-CA')),
    msg(15, ld(1, CERT_PEM)),
    msg(16, msg(1, ld(1, 'x'))),
    msg(17, ld(1, 'AGG-CA')),
    msg(18, ld(1, 'SA-PUB-1')),
    ld(19, 'https://10.5.0.1:6443'),
    ld(20, 'https://old.issuer'),
    ld(21, 'https://kubernetes.default.svc'),
  );
  const spec = protos.specs.kubernetesRoot.decode(wire) as Record<string, unknown>;
  t.notOk(
    Object.keys(spec).some((k) => /aescbc|bootstrap|secretbox|etcd/.test(k)),
    'fields 10-13 and 16 are not part of the decoded spec',
  );
  const d = decodeKubernetesRootSecrets({ metadata: { id: 'k8s' }, spec: { proto_spec: wire } });
  t.equal(d.name, 'talos-default');
  t.equal(d.endpoint, 'https://10.5.0.1:6443');
  t.equal(d.localEndpoint, 'https://localhost:7445');
  t.same(d.certSans, ['kubernetes', 'kubernetes.default']);
  t.equal(d.dnsDomain, 'cluster.local');
  t.equal(d.issuingCa?.certPem, CERT_PEM);
  t.equal(d.issuingCa?.key?.reveal(), KEY_PEM);
  t.match(d.serviceAccountKey?.reveal() ?? '', /RSA PRIVATE KEY/);
  t.equal(d.aggregatorCa?.certPem, 'AGG-CA');
  t.equal(d.aggregatorCa?.key?.reveal(), 'AGG-KEY');
  t.same(d.apiServerIps, ['10.96.0.1']);
  t.same(d.acceptedCas, ['OLD-K8S-CA', CERT_PEM]);
  t.same(d.acceptedAggregatorCas, ['AGG-CA']);
  t.same(d.serviceAccountAcceptedKeys, ['SA-PUB-1']);
  t.equal(d.issuerUrl, 'https://10.5.0.1:6443');
  t.same(d.acceptedIssuers, ['https://old.issuer']);
  t.same(d.apiAudiences, ['https://kubernetes.default.svc']);
  t.notMatch(JSON.stringify(d), /PRIVATE KEY|AGG-KEY|aescbc/);
});

t.test(
  'MemberSpec: node_id=1, addresses=2 NetIP, hostname=3, machine_type=4 MachineType, operating_system=5, ' +
    'control_plane=6',
  async (t) => {
    const wire = bytes(
      ld(1, 'Abc123NodeId'),
      msg(2, ld(1, [10, 5, 0, 2])),
      msg(2, ld(1, [0x20, 0x01, 0x0d, 0xb8, ...Array(10).fill(0), 0x00, 0x02])),
      ld(3, 'cp-1'),
      vfield(4, 2),
      ld(5, 'Talos (v1.9.5)'),
      msg(6, vfield(1, 6443)),
    );
    t.equal(hex(protos.specs.member.encode(protos.specs.member.decode(wire))), hex(wire));
    t.same(decodeMember({ metadata: { id: 'cp-1' }, spec: { proto_spec: wire } }), {
      id: 'cp-1',
      nodeId: 'Abc123NodeId',
      addresses: ['10.5.0.2', '2001:db8::2'],
      hostname: 'cp-1',
      machineType: 'controlplane',
      operatingSystem: 'Talos (v1.9.5)',
      apiServerPort: 6443,
    });
    const types = [0, 1, 2, 3, 7].map(
      (n) => decodeMember({ metadata: { id: 'x' }, spec: { proto_spec: bytes(vfield(4, n)) } }).machineType,
    );
    t.same(types, ['unknown', 'init', 'controlplane', 'worker', 'unknown']);
    t.equal(decodeMember({ metadata: { id: 'w' }, spec: { proto_spec: bytes(vfield(4, 3)) } }).apiServerPort, null);
  },
);

t.test('IdentitySpec: node_id=1 string (Identities.cluster.talos.dev/local)', async (t) => {
  const wire = bytes(ld(1, 'Q4mWoGpXcTKBdZJ5kHmsHbDtuJ0BBMQFIHpZzLkDvCOS'));
  t.equal(hex(protos.specs.identity.encode({ node_id: 'Q4mWoGpXcTKBdZJ5kHmsHbDtuJ0BBMQFIHpZzLkDvCOS' })), hex(wire));
  t.same(protos.specs.identity.decode(wire), { node_id: 'Q4mWoGpXcTKBdZJ5kHmsHbDtuJ0BBMQFIHpZzLkDvCOS' });
  t.same(decodeIdentity({ metadata: { id: 'local' }, spec: { proto_spec: wire } }), {
    nodeId: 'Q4mWoGpXcTKBdZJ5kHmsHbDtuJ0BBMQFIHpZzLkDvCOS',
  });
  t.same(decodeIdentity({ metadata: { id: 'local' }, spec: { proto_spec: Buffer.alloc(0) } }), { nodeId: '' });
  // A field this build does not know is skipped, not misread as the id.
  t.same(decodeIdentity({ metadata: { id: 'local' }, spec: { proto_spec: bytes(ld(2, 'x'), ld(1, 'abc')) } }), {
    nodeId: 'abc',
  });
  t.throws(
    () => decodeIdentity({ metadata: { id: 'local' }, spec: { proto_spec: Buffer.from([0x0a, 0x80]) } }),
    ResourceDecodeError,
    'a cut length prefix fails cleanly',
  );
  t.throws(() => decodeIdentity({ metadata: null, spec: { proto_spec: wire } }), ResourceDecodeError);
});

t.test('ServiceSpec: running=1, healthy=2, unknown=3', async (t) => {
  const s = (wire: Buffer) => decodeServiceState({ metadata: { id: 'kubelet' }, spec: { proto_spec: wire } });
  t.same(s(bytes(vfield(1, true), vfield(2, true))), { id: 'kubelet', running: true, healthy: true, unknown: false });
  t.same(s(bytes(vfield(1, true), vfield(3, true))), { id: 'kubelet', running: true, healthy: false, unknown: true });
  t.same(s(Buffer.alloc(0)), { id: 'kubelet', running: false, healthy: false, unknown: false });
  t.equal(
    hex(protos.specs.service.encode({ running: true, healthy: true })),
    hex(bytes(vfield(1, true), vfield(2, true))),
  );
  t.throws(() => s(Buffer.from([0x0a, 0x05, 0x01])), ResourceDecodeError, 'truncated bytes fail cleanly');
});

t.test('SecretsStatusSpec (SecretStatuses.kubernetes.talos.dev): ready=1, version=2', async (t) => {
  const wire = bytes(vfield(1, true), ld(2, '17'));
  t.equal(hex(protos.specs.secretsStatus.encode({ ready: true, version: '17' })), hex(wire));
  t.same(decodeSecretsStatus({ metadata: { id: 'static-pods' }, spec: { proto_spec: wire } }), {
    ready: true,
    version: '17',
  });
  t.same(decodeSecretsStatus({ metadata: { id: 'static-pods' }, spec: { proto_spec: Buffer.alloc(0) } }), {
    ready: false,
    version: '',
  });
  t.same(SECRET_STATUS_RESOURCE, {
    namespace: 'controlplane',
    type: 'SecretStatuses.kubernetes.talos.dev',
    id: 'static-pods',
  });
});

t.test(
  'securityapi.SecurityService/Certificate: CertificateRequest{csr=1}, CertificateResponse{ca=1, crt=2}',
  async (t) => {
    const m = security.Certificate;
    t.equal(m.path, '/securityapi.SecurityService/Certificate');
    t.equal(hex(m.requestSerialize({ csr: Buffer.from('CSR') })), hex(bytes(ld(1, 'CSR'))));
    t.equal(Buffer.from(m.requestDeserialize(bytes(ld(1, 'CSR'))).csr!).toString(), 'CSR');
    const res = m.responseDeserialize(bytes(ld(1, 'CA-BUNDLE'), ld(2, 'CRT')));
    t.equal(Buffer.from(res.ca!).toString(), 'CA-BUNDLE');
    t.equal(Buffer.from(res.crt!).toString(), 'CRT');
    t.equal(
      hex(m.responseSerialize({ ca: Buffer.from('CA-BUNDLE'), crt: Buffer.from('CRT') })),
      hex(bytes(ld(1, 'CA-BUNDLE'), ld(2, 'CRT'))),
    );
  },
);

t.test('netIpToString prints addresses as Go does', async (t) => {
  const v6 = (...groups: number[]) => new Uint8Array(groups.flatMap((g) => [g >> 8, g & 0xff]));
  t.equal(netIpToString(new Uint8Array([192, 168, 1, 10])), '192.168.1.10');
  t.equal(netIpToString(v6(0, 0, 0, 0, 0, 0, 0, 1)), '::1');
  t.equal(netIpToString(v6(0, 0, 0, 0, 0, 0, 0, 0)), '::');
  t.equal(netIpToString(v6(0xfe80, 0, 0, 0, 0x1, 0x2, 0x3, 0x4)), 'fe80::1:2:3:4');
  t.equal(netIpToString(v6(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)), '2001:db8:0:1::1', 'longest zero run wins');
  t.equal(netIpToString(v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), '2001:db8::1:0:0:1', 'first run on ties');
  t.equal(
    netIpToString(v6(0x2001, 0xdb8, 1, 1, 1, 0, 1, 1)),
    '2001:db8:1:1:1:0:1:1',
    'a single zero group is not compressed',
  );
  t.equal(netIpToString(v6(0, 0, 0, 0, 0, 0xffff, 0x0a05, 0x0002)), '::ffff:10.5.0.2');
  t.equal(netIpToString(new Uint8Array([...v6(0xfe80, 0, 0, 0, 0, 0, 0, 1), ...Buffer.from('eth0')])), 'fe80::1%eth0');
  t.throws(() => netIpToString(new Uint8Array([1, 2, 3])), ResourceDecodeError);
});
