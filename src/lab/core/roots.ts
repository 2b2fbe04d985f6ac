/**
 * The lab's own reading of a machine config's CA fields, as Talos derives its root secrets from them
 * (siderolabs/talos internal/app/machined/pkg/controllers/secrets/root.go, talos-behaviour.md §3.3, §4.2, §4.3, §6.1).
 * Deliberately independent of src/machineconfig: the judge must not share the planner's reading.
 *
 * Talos API (OSRoot): issuing = `.machine.ca`, dropped when its key is empty (workers); accepted =
 * `.machine.acceptedCAs` followed by `.machine.ca.crt`.
 * Kubernetes API (KubernetesRoot), legacy layout (v1.13): issuing = `.cluster.ca` (dropped when the key is
 * empty), accepted = `.cluster.acceptedCAs` followed by `.cluster.ca.crt`. Document layout (v1.14,
 * `KubeAPIServerCAConfig`, plain PEM): accepted = the issuing cert first, then `acceptedCAs`
 * (pkg/machinery/config/types/k8s/apiserver_ca.go `AcceptedCAs()`).
 *
 * Talos validates none of this material at apply time (talos-behaviour.md §7): a CA that does not parse, or whose key
 * does not match, is accepted and then breaks certificate generation. `RootCa.error` records that; the
 * node then keeps serving what it had. The trusted set is what Go's `CertPool.AppendCertsFromPEM` keeps of
 * the entries joined with no separator (`bytes.Join(…, nil)`, see go-pem.ts): every PEM block of every
 * entry, minus blocks that do not parse and blocks broken by an entry without its final newline.
 */
import { isIP } from 'node:net';
import { parseAllDocuments } from 'yaml';
import { loadCa, parseCaCertificate, type CaCertificate, type CaMaterial } from '../../pki/index.js';
import type { KubernetesCaStyle, LabRole, NodeRoots, RootCa } from './model.js';
import { certificatePem, goFirstCertificate, goTrustedCertificates } from './go-pem.js';
import { BoundedMap } from '../../util/bounded-map.js';

/** A CA as written in the config, decoded to PEM text (empty string = absent/empty field). */
export interface RawCa {
  crt: string;
  key: string;
}

/** Everything CA-related (plus what the root resources show) read from a config, without parsing certificates. */
export interface ConfigCaView {
  role: LabRole;
  /** `.machine.type` as written. */
  machineType: string;
  style: KubernetesCaStyle;
  /** `.machine.ca`, or null when absent. */
  machineCa: RawCa | null;
  /** `.machine.acceptedCAs[].crt` */
  machineAccepted: string[];
  /** `.machine.token` (trustd token). */
  trustdToken: string;
  /** `.machine.certSANs` */
  certSans: string[];
  /**
   * Kubernetes issuing CA: `.cluster.ca` (legacy) or `KubeAPIServerCAConfig.issuingCA` (document); null when absent.
   */
  kubernetesCa: RawCa | null;
  /** `.cluster.acceptedCAs[].crt` (legacy) or `KubeAPIServerCAConfig.acceptedCAs` (document). */
  kubernetesAccepted: string[];
  /** `.cluster.aggregatorCA` or `KubeAggregatorCAConfig.issuingCA`. */
  aggregatorCa: RawCa | null;
  /** Service-account private key (PEM) or ''. */
  serviceAccountKey: string;
  clusterName: string;
  /** `.cluster.controlPlane.endpoint` or `KubeClusterConfig.endpoint`. */
  clusterEndpoint: string;
  /** `.cluster.apiServer.certSANs` */
  apiServerCertSans: string[];
  dnsDomain: string;
  serviceSubnets: string[];
  kubePrism: { enabled: boolean; port: number };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function strList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Go's `[]byte` YAML field: standard base64 (CR/LF ignored). Returns null when it is not base64. */
export function decodeBase64Field(value: unknown): string | null {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') return null;
  const v = value.replace(/[\r\n]/g, '');
  if (!BASE64_RE.test(v)) return null;
  return Buffer.from(v, 'base64').toString('utf8');
}

function rawCa(v: unknown): RawCa | null {
  if (!isObj(v)) return null;
  // siderolabs/crypto UnmarshalYAML keeps `key: "******"` (x509.Redacted) as the key text itself: a control
  // plane then holds a key that does not parse, so certificate generation fails; workers are refused by
  // validation (a key is a key).
  const key = v.key === '******' ? '******' : (decodeBase64Field(v.key) ?? '');
  return { crt: decodeBase64Field(v.crt) ?? '', key };
}

function rawCaPlain(v: unknown): RawCa | null {
  if (!isObj(v)) return null;
  return { crt: str(v.cert), key: str(v.key) };
}

/** The documents of a config as plain objects (unparseable YAML yields an empty list). */
export function configDocuments(configYaml: string): Obj[] {
  let docs;
  try {
    docs = parseAllDocuments(configYaml);
  } catch {
    return [];
  }
  const list = Array.isArray(docs) ? docs : [docs];
  const out: Obj[] = [];
  for (const d of list) {
    if (d.errors.length > 0) continue;
    const js: unknown = d.toJS();
    if (isObj(js)) out.push(js);
  }
  return out;
}

/** Talos recognises the v1alpha1 document by any of these keys (talos-behaviour.md §6.1). */
export function isV1Alpha1Document(doc: Obj): boolean {
  return !('kind' in doc) && ['version', 'machine', 'cluster', 'debug', 'persist'].some((k) => k in doc);
}

/** `.machine.type`: controlplane/init are control planes; worker, join and '' parse as worker. */
export function roleOfMachineType(type: string): LabRole {
  return type === 'controlplane' || type === 'init' ? 'controlplane' : 'worker';
}

// Small memos: the same config texts are read again and again (every call, probe and apply).
const viewMemo = new BoundedMap<string, ConfigCaView>(512);
const certMemo = new BoundedMap<string, CaCertificate | null>(1024);
const caMemo = new BoundedMap<string, Promise<{ material: CaMaterial | null; error?: string }>>(256);

/** The CA-related fields of a config (memoised by config text; treat the result as read-only). */
export function readConfigCas(configYaml: string): ConfigCaView {
  return viewMemo.getOrSet(configYaml, () => readConfigCasUncached(configYaml));
}

function readConfigCasUncached(configYaml: string): ConfigCaView {
  const docs = configDocuments(configYaml);
  const v1 = docs.find(isV1Alpha1Document) ?? {};
  const machine = isObj(v1.machine) ? v1.machine : {};
  const cluster = isObj(v1.cluster) ? v1.cluster : {};
  const kind = (k: string) => docs.find((d) => d.kind === k);
  const apiCaDoc = kind('KubeAPIServerCAConfig');
  const aggDoc = kind('KubeAggregatorCAConfig');
  const saDoc = kind('KubeServiceAccountConfig');
  const kubeCluster = kind('KubeClusterConfig');
  const kubeNetwork = kind('KubeNetworkConfig');
  const kubePrismDoc = kind('KubePrismConfig');
  const features = isObj(machine.features) ? machine.features : {};
  const legacyPrism = isObj(features.kubePrism) ? features.kubePrism : null;
  const network = isObj(cluster.network) ? cluster.network : {};
  const controlPlane = isObj(cluster.controlPlane) ? cluster.controlPlane : {};
  const apiServer = isObj(cluster.apiServer) ? cluster.apiServer : {};
  const saLegacy = isObj(cluster.serviceAccount) ? cluster.serviceAccount : {};
  const saIssuer = saDoc && isObj(saDoc.issuer) ? saDoc.issuer : {};
  const machineType = str(machine.type);
  const style: KubernetesCaStyle = apiCaDoc ? 'document' : 'legacy';
  return {
    role: roleOfMachineType(machineType),
    machineType,
    style,
    machineCa: rawCa(machine.ca),
    machineAccepted: (Array.isArray(machine.acceptedCAs) ? machine.acceptedCAs : []).map((e) =>
      isObj(e) ? (decodeBase64Field(e.crt) ?? '') : '',
    ),
    trustdToken: str(machine.token),
    certSans: strList(machine.certSANs),
    kubernetesCa: apiCaDoc ? rawCaPlain(apiCaDoc.issuingCA) : rawCa(cluster.ca),
    kubernetesAccepted: apiCaDoc
      ? strList(apiCaDoc.acceptedCAs)
      : (Array.isArray(cluster.acceptedCAs) ? cluster.acceptedCAs : []).map((e) =>
          isObj(e) ? (decodeBase64Field(e.crt) ?? '') : '',
        ),
    aggregatorCa: aggDoc ? rawCaPlain(aggDoc.issuingCA) : rawCa(cluster.aggregatorCA),
    serviceAccountKey: saDoc ? str(saIssuer.privateKey) : (decodeBase64Field(saLegacy.key) ?? ''),
    clusterName: kubeCluster ? str(kubeCluster.clusterName) : str(cluster.clusterName),
    clusterEndpoint: kubeCluster ? str(kubeCluster.endpoint) : str(controlPlane.endpoint),
    apiServerCertSans: strList(apiServer.certSANs),
    dnsDomain: (kubeNetwork ? str(kubeNetwork.dnsDomain) : str(network.dnsDomain)) || 'cluster.local',
    serviceSubnets: kubeNetwork ? strList(kubeNetwork.serviceSubnets) : strList(network.serviceSubnets),
    kubePrism: kubePrismDoc
      ? { enabled: true, port: typeof kubePrismDoc.port === 'number' ? kubePrismDoc.port : 7445 }
      : {
          enabled: legacyPrism?.enabled === true,
          port: typeof legacyPrism?.port === 'number' ? legacyPrism.port : 7445,
        },
  };
}

/** The certSANs split as OSRoot does (IPs vs DNS names). */
export function splitSans(sans: readonly string[]): { ips: string[]; dnsNames: string[] } {
  return { ips: sans.filter((s) => isIP(s) !== 0), dnsNames: sans.filter((s) => isIP(s) === 0) };
}

function tryCert(pem: string, what: string): CaCertificate | null {
  if (pem.trim() === '') return null;
  return certMemo.getOrSet(pem, () => {
    try {
      return parseCaCertificate(pem, what);
    } catch {
      return null;
    }
  });
}

/** The certificates Go's cert pool keeps from the entries joined with no separator. */
function parseAccepted(pems: readonly string[], what: string): CaCertificate[] {
  return goTrustedCertificates(pems)
    .map((p, i) => tryCert(p, `${what}[${i}]`))
    .filter((c): c is CaCertificate => c !== null);
}

function tryLoadIssuing(ca: RawCa, what: string): Promise<{ material: CaMaterial | null; error?: string }> {
  return caMemo.getOrSet(`${what}\u0000${ca.crt}\u0000${ca.key}`, async () => {
    try {
      return { material: await loadCa(ca.crt, ca.key, what) };
    } catch (err) {
      return { material: null, error: `${what}: ${(err as Error).message}` };
    }
  });
}

async function talosRoot(view: ConfigCaView): Promise<RootCa> {
  const ca = view.machineCa;
  const accepted = [...view.machineAccepted];
  if (ca) accepted.push(ca.crt);
  const trusted = parseAccepted(accepted, '.machine.acceptedCAs');
  const issuingCert = ca ? tryCert(ca.crt, '.machine.ca.crt') : null;
  const root: RootCa = { issuing: null, issuingCert, trusted, acceptedEntries: accepted };
  if (ca && ca.key !== '') {
    const loaded = await tryLoadIssuing(ca, '.machine.ca');
    root.issuing = loaded.material;
    if (loaded.error) root.error = loaded.error;
  }
  if (view.role === 'controlplane' && !root.issuing && !root.error) {
    root.error = '.machine.ca: a control plane needs the issuing CA with its key to generate the apid certificates';
  }
  if (view.role === 'worker') {
    // The worker's CSR takes the last accepted CA as its template (secrets/api.go generateWorker).
    // `GetCert` decodes only the first PEM block of that entry.
    const last = accepted[accepted.length - 1];
    const der = last === undefined ? null : goFirstCertificate(last);
    root.csrTemplate = der ? tryCert(certificatePem(der), 'last accepted CA') : null;
    if (last === undefined) root.error = 'no accepted CAs';
    else if (!root.csrTemplate) root.error = 'failed to parse CA certificate (the last accepted Talos CA)';
  }
  return root;
}

async function kubernetesRoot(view: ConfigCaView): Promise<RootCa> {
  const ca = view.kubernetesCa;
  const document = view.style === 'document';
  const pems = document
    ? [...(ca && ca.crt !== '' ? [ca.crt] : []), ...view.kubernetesAccepted]
    : [...view.kubernetesAccepted, ...(ca ? [ca.crt] : [])];
  const trusted = parseAccepted(pems, 'Kubernetes accepted CAs');
  const issuingCert = ca ? tryCert(ca.crt, 'Kubernetes issuing CA certificate') : null;
  const root: RootCa = { issuing: null, issuingCert, trusted };
  if (ca && ca.key !== '') {
    const loaded = await tryLoadIssuing(ca, document ? 'KubeAPIServerCAConfig.issuingCA' : '.cluster.ca');
    root.issuing = loaded.material;
    if (loaded.error) root.error = loaded.error;
  }
  if (pems.length === 0) root.error = 'missing cluster.CA secret';
  return root;
}

/** What Talos derives from a config's CA fields (see the module comment). */
export async function interpretRoots(configYaml: string): Promise<NodeRoots> {
  const view = readConfigCas(configYaml);
  const [talos, kubernetes] = await Promise.all([talosRoot(view), kubernetesRoot(view)]);
  return { talos, kubernetes };
}
