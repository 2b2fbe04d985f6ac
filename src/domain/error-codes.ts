/**
 * The one registry of error and warning codes: every code a RotateError, a desired-state finding, a plan
 * or status warning, or a state record carries, with what it means and what to do, in a sentence each.
 * The message of each error names the file, field or node and its hint says the fix for that case; this
 * is the summary. `docs/errors.md` is generated from it (renderErrorsDoc); tests keep the doc current and
 * check that every code used in src/ is listed here and every code listed is used.
 */

export interface ErrorCodeInfo {
  /** `warning`: reported, the command goes on; `error`: the command stops (or, in a finding, the file is invalid). */
  kind: 'error' | 'warning';
  meaning: string;
  /** What to do about it, in general (the error's own hint is specific). */
  fix: string;
}

const e = (meaning: string, fix: string): ErrorCodeInfo => ({ kind: 'error', meaning, fix });
const w = (meaning: string, fix: string): ErrorCodeInfo => ({ kind: 'warning', meaning, fix });
/** An invariant of talos-rotate broke: the CLI adds the request to report it (isBug). */
const bug = (meaning: string): ErrorCodeInfo => ({
  kind: 'error',
  meaning,
  fix: 'a bug in talos-rotate: rerun with ROTATE_DEBUG=1 and report it',
});

const REINSTALL = 'the installation is incomplete: reinstall talos-rotate';
const RESUME = 'fix the cause, then run `rotate apply` again to resume (or `rotate rollback`)';

/** Code prefixes, in the order the document lists them, with the part of the tool that uses them. */
export const ERROR_CODE_SECTIONS: Record<string, string> = {
  CLI: 'Command line',
  DESIRED: 'Desired-state file (`rotate validate` findings and load errors)',
  CA: '`rotate ca new` / `rotate ca import`',
  INIT: '`rotate init`',
  SESSION: 'Opening a session (desired state + talosconfig)',
  TALOSCONFIG: 'Talosconfig files',
  SECRETS: 'Secrets bundles',
  PKI: 'Certificates and keys',
  MC: 'Machine configs',
  TALOS: 'Talos API calls',
  KUBE: 'Kubernetes API calls',
  OBSERVE: 'Reading the cluster',
  PLAN: 'Planning and saved plans',
  APPLY: '`rotate apply` and the engine',
  GATE: 'Gates that end each step',
  STEP: 'Step records in the state file',
  KEYS: 'Key escrow',
  EXTAUTH: 'extension-apiserver-authentication',
  WORKLOAD: 'The workload phase',
  RUN: 'The cluster run lease',
  ROLLBACK: '`rotate rollback`',
  STATE: 'State file, lock and encryption',
  STATUS: '`rotate status` conditions',
  LAB: '`rotate lab` (the emulated cluster)',
};

export const ERROR_CODES = {
  CLI_USAGE: e(
    'the command line is not valid (unknown flag, missing argument, clashing options)',
    'see `rotate <command> --help`',
  ),
  CLI_DURATION_INVALID: e('a duration flag is not a number with a unit', 'write e.g. 30s, 2m, 1m30s, 500ms'),
  CLI_INTERNAL: bug('an error that is not a RotateError reached the command; `rotate plan --json` reports it so'),

  DESIRED_INVALID: e(
    'the desired-state file has errors (each is listed with its own code)',
    'fix them; `rotate validate -f FILE` shows where',
  ),
  DESIRED_INTERNAL: bug('editing the desired-state file met a YAML node it cannot place'),
  DESIRED_READ: e('the desired-state file cannot be read', 'check the path and its permissions'),
  DESIRED_EMPTY: e('the desired-state file is empty', 'start from one of the examples/ files'),
  DESIRED_YAML: e('the file is not valid YAML', 'fix the syntax at the line named'),
  DESIRED_DUPLICATE_KEY: e('a key is defined twice in one mapping', 'keep one'),
  DESIRED_SCHEMA_MISSING: e('the desired-state schema shipped with talos-rotate cannot be read', REINSTALL),
  DESIRED_BAD_VERSION: e(
    '`version` is not one this talos-rotate reads',
    'write `version: 1`, or use a newer talos-rotate',
  ),
  DESIRED_MISSING_FIELD: e('a required field is missing', 'add it'),
  DESIRED_UNKNOWN_FIELD: e('a field the format does not have (often a typo)', 'remove or rename it'),
  DESIRED_BAD_TYPE: e('a field has the wrong type', 'write the type the message names'),
  DESIRED_BAD_VALUE: e('a field has a value the format does not allow', 'use one of the values the message names'),
  DESIRED_BAD_NAME: e('an authority name is not valid', 'use lowercase letters, digits, ".", "_" and "-"'),
  DESIRED_BAD_ADDRESS: e('a node address is not valid', 'write an IP address or a host name'),
  DESIRED_BAD_ENDPOINT: e('a Talos endpoint is not valid', 'write host, host:port or [ipv6]:port'),
  DESIRED_BAD_URL: e(
    'cluster.kubernetesEndpoint is not a usable https URL',
    'write https://host:6443 without user, path or query',
  ),
  DESIRED_BAD_KEY_SOURCE: e(
    'a key source is not one of the supported forms',
    'use `{ file: PATH }`, `{ env: VAR }` or a secrets bundle entry',
  ),
  DESIRED_BAD_CERTIFICATE_SOURCE: e(
    'a certificate source is not one of the supported forms',
    'use `{ file: PATH }` or a secrets bundle entry',
  ),
  DESIRED_BAD_BUNDLE_ENTRY: e(
    'a secrets-bundle reference is not valid',
    'name the bundle file and the entry (os or k8s)',
  ),
  DESIRED_INLINE_KEY: e(
    'a private key is written into the desired-state file itself',
    'put the key in a 0600 file and reference it',
  ),
  DESIRED_NOTHING_MANAGED: e(
    'the file manages neither the Talos API nor the Kubernetes API',
    'add a talos or kubernetes section',
  ),
  DESIRED_UNKNOWN_AUTHORITY: e(
    'a section names an authority that is not defined',
    'define it under authorities, or fix the name',
  ),
  DESIRED_AUTHORITY_SHARED: e('the Talos API and the Kubernetes API name the same CA', 'give each API its own CA'),
  DESIRED_CA_WRONG_API: w("a CA's subject looks made for the other API", 'check that the right certificate is named'),
  DESIRED_DUPLICATE_ACCEPTED: w(
    'an accepted CA is listed twice (or under two names); the repeat is ignored',
    'remove the repeat',
  ),
  DESIRED_ISSUING_ALSO_ACCEPTED: w(
    'the issuing CA is also listed as accepted; ignored (Talos always trusts the issuing CA)',
    'remove it from accepted',
  ),
  DESIRED_ISSUING_NO_KEY: w(
    'the issuing authority has no key: fine while the cluster already issues from it',
    'add its key before a plan makes it issuing',
  ),
  DESIRED_UNUSED_AUTHORITY: w(
    'an authority is neither issuing nor accepted; the plan removes it where it is still trusted',
    'keep it only to switch back later; otherwise delete it',
  ),
  DESIRED_K8S_ED25519: w(
    'the issuing Kubernetes CA is Ed25519, which some Kubernetes components do not accept',
    'prefer an ECDSA or RSA Kubernetes CA',
  ),
  DESIRED_K8S_ENDPOINT_PORT: w(
    'cluster.kubernetesEndpoint has no port, so 443 is used',
    'write the port (kube-apiserver listens on 6443)',
  ),
  DESIRED_KUBECONFIG_REQUIRED: e(
    'a kubernetes section needs cluster.kubeconfig (apply writes the new admin kubeconfig there)',
    'add it',
  ),
  DESIRED_KUBECONFIG_UNUSED: w(
    'cluster.kubeconfig is set but the Kubernetes API is not managed',
    'remove it, or add a kubernetes section',
  ),
  DESIRED_KUBECONFIG_DIR: w("the kubeconfig's folder does not exist (apply would fail to write there)", 'create it'),
  DESIRED_WORKLOADS_UNUSED: w(
    'the workloads section has no effect without a Kubernetes API CA change',
    'remove it, or add a kubernetes section',
  ),
  DESIRED_DUPLICATE_NODE: e('a node is listed twice (or as both control plane and worker)', 'list each node once'),
  DESIRED_DUPLICATE_ENDPOINT: w('an endpoint is listed twice; the repeat is ignored', 'remove the repeat'),
  DESIRED_NO_ENDPOINTS: e(
    'neither the desired state nor the talosconfig context lists an endpoint',
    'add cluster.endpoints',
  ),
  DESIRED_PATH_CONFLICT: e(
    'two files apply writes (or an output and CA material) are the same file',
    'give each its own file',
  ),
  DESIRED_TALOSCONFIG_MISSING: w(
    'the talosconfig does not exist here',
    'fix cluster.talosconfig, or validate where it is available',
  ),
  DESIRED_TALOSCONFIG_INVALID: e('the talosconfig cannot be used', 'see the message; fix or regenerate it'),
  DESIRED_TALOSCONFIG_CONTEXT: e(
    'the talosconfig has no such context (or no current one)',
    'set cluster.context to one of those listed',
  ),
  DESIRED_CERT_READ: e('a CA certificate file cannot be read', 'check the path and its permissions'),
  DESIRED_CERT_INVALID: e('a CA certificate is not a valid X.509 certificate', 'copy it again from its source'),
  DESIRED_NOT_CA: e('a certificate named as a CA is not a CA certificate', 'name the CA certificate, not a leaf'),
  DESIRED_UNSUPPORTED_ALG: e("a CA's key algorithm is not one Talos supports", 'use Ed25519, ECDSA or RSA'),
  DESIRED_CA_EXPIRED: e('a CA certificate has expired', 'rotate to a new CA'),
  DESIRED_CA_EXPIRING: w('a CA certificate expires soon', 'rotate to a new CA before it does'),
  DESIRED_CA_NOT_YET_VALID: e('a CA certificate is not valid yet', "check this machine's clock"),
  DESIRED_KEY_READ: e('a CA key file cannot be read', 'check the path and its permissions'),
  DESIRED_KEY_FILE_MODE: e('a file holding a CA key is readable by others than its owner', 'chmod 600 it'),
  DESIRED_KEY_INVALID: e('a key source holds no usable private key', 'provide PEM or base64 of PEM'),
  DESIRED_KEY_MISMATCH: e("a key does not belong to its authority's certificate", 'name the matching key'),
  DESIRED_KEY_NOT_AVAILABLE: w(
    "a non-issuing authority's key does not match; it is treated as not available",
    'fix or remove the key',
  ),
  DESIRED_KEY_IN_CERT_FILE: e(
    'a certificate file also holds a private key and is readable by others',
    'move the key to its own 0600 file',
  ),
  DESIRED_KEY_IN_GIT: w(
    'a file holding a key is tracked by (or not ignored in) git',
    'remove it from git and ignore it',
  ),
  DESIRED_ENV_MISSING: e('the environment variable a key is read from is not set or empty', 'export it before running'),
  DESIRED_NO_KEY: e('an authority whose key is needed has none', 'add `key:` to the authority'),
  DESIRED_BUNDLE_READ: e('a secrets bundle cannot be read', 'fix the path, or write it with `talosctl gen secrets`'),
  DESIRED_BUNDLE_ENTRY: e('a secrets bundle lacks the entry named', 'check the bundle and the entry (os or k8s)'),
  DESIRED_BUNDLE_MODE: e('a secrets bundle is readable by others than its owner', 'chmod 600 it'),
  DESIRED_BUNDLE_REWRITTEN: e(
    'an authority reads the secrets bundle apply rewrites (an error when the authority is in use)',
    'give the authority its own copy of the CA',
  ),

  CA_BAD_NAME: e('--name is not a plain name', 'use letters, digits, ".", "_" and "-"'),
  CA_FILE_EXISTS: e('the CA files would overwrite existing ones', 'choose another --name or --dir'),
  CA_READ: e('a certificate or key file given cannot be read', 'check the path'),
  CA_IMPORT_NOT_PEM: e('the imported file is not a PEM certificate', 'convert it to PEM first'),
  CA_IMPORT_SUBORDINATE: e('the imported CA is not self-signed', 'import a root CA'),
  CA_IMPORT_NO_KEY: e('--make-issuing needs the CA key', 'add --key FILE'),
  CA_IMPORT_DUPLICATE: e('the certificate is already defined under another name', 'use that name'),
  CA_KEY_FILE_MODE: e('the key file is readable by others than its owner', 'chmod 600 it'),
  CA_DESIRED_EDIT: e('the desired-state file cannot be edited safely', 'fix the file first (`rotate validate`)'),

  INIT_FILE_EXISTS: e('the desired-state file to write exists', 'choose another -f, or pass --force'),
  INIT_DISCOVERY_FAILED: e(
    'the cluster members cannot be listed through the endpoints',
    'check the endpoints and the talosconfig',
  ),
  INIT_DISCOVERY_INCOMPLETE: e(
    'the member list is incomplete; init does not guess',
    'list the nodes with --control-planes and --workers',
  ),
  INIT_NO_CONTROLPLANE: e('no control plane among the nodes read', 'list at least one control plane'),
  INIT_CONTROLPLANE_WITHOUT_CA: e(
    'a control plane has no issuing CA in its config',
    'check that it belongs to this cluster',
  ),
  INIT_ISSUING_DISAGREES: e(
    'control planes issue from different CAs (a rotation stopped halfway?)',
    'finish or undo that rotation first',
  ),
  INIT_BUNDLE_NOT_THIS_CLUSTER: e('--secrets names a bundle whose CAs no node trusts', "pass this cluster's bundle"),
  INIT_KEY_UNREADABLE: e('--key cannot be read', 'check the path and its permissions'),
  INIT_KEY_MATCHES_NOTHING: e('--key is not the key of any CA the nodes trust', 'pass the right key'),
  INIT_NO_KEY_IN_CONFIG: e('the machine config holds no key for that CA', 'name the key with --key or --secrets'),

  SESSION_INTERNAL: bug('a session lookup failed (a CA or node the plan names is unknown)'),
  SESSION_NO_ENDPOINTS: e(
    'no Talos endpoints: neither the desired state nor the talosconfig context lists one',
    'add cluster.endpoints or pass --endpoints',
  ),
  SESSION_TALOSCONFIG: e('the talosconfig cannot be read', 'fix cluster.talosconfig or pass --talosconfig'),

  TALOSCONFIG_READ: e('the talosconfig cannot be read', 'check the path (--talosconfig, TALOSCONFIG)'),
  TALOSCONFIG_PARSE: e('the talosconfig is not valid YAML', 'fix it, or regenerate it with talosctl'),
  TALOSCONFIG_NO_CONTEXT: e('the talosconfig has no current context', 'pass --context'),
  TALOSCONFIG_UNKNOWN_CONTEXT: e('the talosconfig has no such context', 'use one of those listed'),
  TALOSCONFIG_BAD_CREDENTIALS: e(
    'the context lacks a CA, certificate or key (or authenticates otherwise)',
    'use a context with certificate credentials',
  ),
  TALOSCONFIG_NO_ENDPOINTS: e('the context has no endpoints', 'add control-plane endpoints'),

  SECRETS_READ: e('the secrets bundle cannot be read', 'check the path'),
  SECRETS_PARSE: e('the secrets bundle is not valid YAML', 'restore it or regenerate it'),
  SECRETS_BAD_CA: e('a CA entry of the secrets bundle is missing or unusable', 'restore the bundle'),

  PKI_PARSE: e('a certificate or key cannot be parsed', 'copy it again from its source'),
  PKI_BAD_ENCODING: e('a value is not PEM or base64 of PEM', 'provide the PEM text or its base64'),
  PKI_NOT_CA: e('a certificate used as a CA is not one', 'use the CA certificate'),
  PKI_UNSUPPORTED_ALG: e('a key algorithm Talos does not support', 'use Ed25519, ECDSA or RSA'),
  PKI_EXPIRED: e('a certificate has expired', 'use a valid one'),
  PKI_NOT_YET_VALID: e('a certificate is not valid yet', "check this machine's clock"),
  PKI_KEY_MISMATCH: e('a private key does not belong to its certificate', 'pair the right key and certificate'),
  PKI_CSR_SIGNATURE: e('a certificate request does not verify', 'create it again'),
  PKI_INVALID_REQUEST: bug('talos-rotate asked for a certificate it must not issue'),

  MC_PARSE: e('a machine config is not valid YAML', 'fix the YAML at the line named'),
  MC_NO_V1ALPHA1: e('a machine config has no v1alpha1 document', 'pass the full machine config'),
  MC_DUPLICATE_DOCUMENT: e('a machine config has more than one v1alpha1 document', 'keep one'),
  MC_BAD_DOCUMENT: e('a machine config section is not a mapping', 'fix the config'),
  MC_BAD_MACHINE_TYPE: e('.machine.type is not controlplane, init or worker', 'fix the config'),
  MC_CONFLICT: e('the Kubernetes CA is set in two places, which Talos refuses', 'keep one'),
  MC_REDACTED_KEY: e(
    'a CA key is the redaction placeholder, not a key',
    'read the config with a role that sees keys (os:admin)',
  ),
  MC_BAD_CA: e('a CA key does not belong to its certificate', 'pass the matching key'),
  MC_KEY_REQUIRED: e('a control plane needs the key of its issuing CA and none was given', 'provide the CA key'),
  MC_ISSUING_REQUIRED: e('a control plane must keep an issuing CA', 'keep one'),
  MC_NO_TRUSTED_CA: e('the change would leave a node trusting no CA', 'keep at least one'),
  MC_UNSUPPORTED_LAYOUT: e(
    'a config layout the patcher does not edit (e.g. flow style)',
    'rewrite that part in block style',
  ),
  MC_INTERNAL: bug('a patched config does not read back as requested'),

  TALOS_UNREACHABLE: e(
    'a node or endpoint did not answer (transient: retried where a retry is bounded)',
    'check that it is up and reachable',
  ),
  TALOS_DEADLINE: e('a Talos API call timed out (transient)', 'check the node, then retry'),
  TALOS_CANCELLED: e('a Talos API call was cancelled (transient)', 'run again'),
  TALOS_TLS_UNTRUSTED_SERVER: e(
    "the endpoint's certificate is not signed by a CA the talosconfig trusts",
    "use a talosconfig trusting the node's issuing CA",
  ),
  TALOS_TLS_CLIENT_REJECTED: e(
    'the endpoint refused the talosconfig client certificate',
    'use a certificate from a CA the node accepts',
  ),
  TALOS_PERMISSION_DENIED: e(
    'the call was refused (role, or a worker used as endpoint)',
    'use an os:admin talosconfig and control-plane endpoints',
  ),
  TALOS_INVALID_ARGUMENT: e('the node refused the request (e.g. a config that does not validate)', 'see the message'),
  TALOS_NOT_FOUND: e('the resource does not exist on that node', 'check the node, its version and role'),
  TALOS_UNIMPLEMENTED: e('the node does not offer this call', 'check its Talos version, or ask a control plane'),
  TALOS_FAILED_PRECONDITION: e('the node cannot do it now (still booting, apply lock held)', 'wait, then retry'),
  TALOS_API_ERROR: e('another Talos API failure, or an answer the client cannot use', 'see the message'),
  TALOS_APPLY_LOCK_HELD: e("another apply holds the node's apply lock", 'wait for it (--apply-lock-wait)'),
  TALOS_ENDPOINT_INVALID: e(
    'a Talos endpoint cannot be parsed (or there is none)',
    'write host, host:port or [ipv6]:port',
  ),
  TALOS_CLIENT_CREDENTIALS: e(
    'the talosconfig credentials cannot be used for TLS',
    'check the context ca, crt and key',
  ),
  TALOS_KUBECONFIG_ARCHIVE: e('the kubeconfig archive a node returned is unusable', 'check the node'),
  TALOS_PROTO_MISSING: e('the Talos API definitions shipped with talos-rotate are missing or broken', REINSTALL),
  TALOS_CLIENT_CLOSED: bug('a Talos client was used after it was closed'),
  TALOS_WATCH_CLOSED: bug('a watch was closed before it was ready'),

  KUBE_UNREACHABLE: e(
    'the Kubernetes API cannot be reached (transient)',
    'check the endpoint (cluster.kubernetesEndpoint)',
  ),
  KUBE_TIMEOUT: e('a Kubernetes API call timed out (transient)', 'check that the API is reachable'),
  KUBE_TLS: e('the Kubernetes API certificate is not trusted by the kubeconfig', 'fetch a fresh kubeconfig'),
  KUBE_FORBIDDEN: e('the Kubernetes API refused the kubeconfig (401/403)', 'use an admin kubeconfig'),
  KUBE_BAD_KUBECONFIG: e('a kubeconfig cannot be used', 'fetch a fresh one'),
  KUBE_API: e('a Kubernetes API call failed (5xx and 429 are transient)', 'check that the API is healthy'),

  OBSERVE_FAILED: e('some nodes could not be read, so the cluster cannot be planned', 'fix the problems listed'),
  OBSERVE_TALOS_TOO_OLD: e('a node runs a Talos without accepted CAs', 'upgrade Talos first'),

  PLAN_REFUSED: e(
    'the desired state cannot be reached safely: the proof found breakage',
    'change the desired state, or accept the breakage with --allow-disruption',
  ),
  PLAN_UNSAFE_STEP: e('a step would break a trust edge (a refusal reason)', 'see the edge named'),
  PLAN_NODE_NOT_READY: e(
    'a node is not Ready, so a step cannot be proved safe (a refusal reason)',
    'bring it back, or leave it out',
  ),
  PLAN_NO_CONTROLPLANE: e('no control plane is listed (a refusal reason)', 'list the control planes'),
  PLAN_CONTROLPLANE_WITHOUT_CA: e('a control plane has no issuing Talos CA (a refusal reason)', 'fix that node first'),
  PLAN_ENDPOINT_IS_WORKER: e(
    'an endpoint is a worker, which cannot proxy (a refusal reason)',
    'use control planes as endpoints',
  ),
  PLAN_TALOSCONFIG_CA_UNKNOWN: w(
    'the talosconfig client certificate is signed by no CA the cluster knows',
    'check the talosconfig',
  ),
  PLAN_NO_SECRETS_BUNDLE: w(
    'no secrets bundle is named, so apply updates none',
    'name cluster.secretsBundle, or keep the bundle up to date yourself',
  ),
  PLAN_EXTENSION_AUTH_UNREAD: w(
    'kube-system/extension-apiserver-authentication could not be read; CAs an earlier rotation left in it are not ' +
      'planned for removal',
    'plan again once the Kubernetes API answers',
  ),
  PLAN_KUBERNETES_NODES_UNLISTED: w(
    'Kubernetes Nodes could not be listed; node readiness comes from Talos only',
    'check the kubeconfig',
  ),
  PLAN_WORKLOADS_UNLISTED: w(
    'the workloads holding the old Kubernetes CA could not be listed',
    'check pod access with the kubeconfig',
  ),
  PLAN_DRY_RUN_REFUSED: e('nodes refused the planned configs in the dry run', 'fix what the nodes report'),
  PLAN_NO_KEY: e('no key is known for a CA the plan makes issuing', 'give the authority its key'),
  PLAN_TOO_MANY_CAS: e('the plan input names more CAs than the proof handles', 'drop stale accepted CAs first'),
  PLAN_TOO_MANY_CLASSES: e('a wave mixes too many node states to prove', 'bring the nodes to a common state first'),
  PLAN_STALE: e('the saved plan no longer matches the cluster or the desired state', 'make a new plan'),
  PLAN_FILE_READ: e('the plan file cannot be read', 'pass the file `rotate plan --out` wrote'),
  PLAN_FILE_INVALID: e('the file is not a saved plan', 'pass the file `rotate plan --out` wrote'),
  PLAN_FILE_VERSION: e('the saved plan has a version this talos-rotate does not read', 'plan again with this version'),
  PLAN_FORMAT_INVALID: e('a plan document is not valid', 'pass a plan written by talos-rotate'),
  PLAN_FORMAT_UNSUPPORTED: e("a plan document's format version is not supported", 'plan again with this version'),
  PLAN_INPUT_INVALID: bug('the planner was given input that does not validate'),
  PLAN_UNKNOWN_NODE: bug('a step names a node the plan does not have'),
  PLAN_DUPLICATE_PATCH: bug('a step patches a node twice'),

  APPLY_NODE_FAILED: e('a node of the step failed; nothing after it ran', RESUME),
  APPLY_NOT_CONFIRMED: e(
    'a node took the config but does not run the planned CAs (another writer?)',
    'stop the other writer, then resume',
  ),
  APPLY_KUBELET_UNHEALTHY: e('the kubelet is not healthy, so the change was not sent', 'fix the kubelet, then resume'),
  APPLY_KUBELET_RESTART_TIMEOUT: e('the kubelet did not restart healthy after its CA change', RESUME),
  APPLY_STATIC_PODS_TIMEOUT: e('a control plane did not re-create its apiserver/controller-manager in time', RESUME),
  APPLY_WORKER_NOT_REGISTERED: e(
    'a worker did not get its new apid certificate from trustd',
    'check trustd reachability, then resume',
  ),
  APPLY_INTERRUPTED: e(
    'the run was interrupted (Ctrl-C); operations in flight finished and were recorded',
    'run the same command again to resume',
  ),
  APPLY_NEEDS_APPROVAL: e(
    'approval is needed and there is no terminal to ask on',
    'pass --auto-approve, or apply a saved plan',
  ),
  APPLY_RUN_UNFINISHED: e(
    'an unfinished run is recorded; a saved plan cannot go on top of it',
    'resume or roll back that run',
  ),
  APPLY_ROLLBACK_UNFINISHED: e('an unfinished rollback is recorded', 'finish it with `rotate rollback`'),
  APPLY_DROPPED_NODE_IN_CLUSTER: e(
    'the run was planned with nodes the desired state no longer lists, and they are still there',
    'list them again, or remove them from the cluster',
  ),
  APPLY_CRASHED: e('(state record) the apply process stopped and was rolled back', 'none: recorded for history'),
  APPLY_INTERNAL: bug('an unexpected failure in the engine'),
  APPLY_NO_CONTROLPLANE: bug('no control plane to fetch a kubeconfig from'),
  APPLY_RETRY: w('a transient failure; the operation is tried again', 'none, unless it keeps failing'),
  APPLY_STOPPING: w('a signal arrived; the run stops after the operations in flight', 'wait, or press Ctrl-C again'),
  APPLY_DECLINED: w('the plan was not approved; nothing was changed', 'none'),
  APPLY_NO_CHANGES: w('the cluster already matches the desired CA state', 'none'),
  APPLY_BATCHES_LOWERED: w(
    "this run's options lower the batch sizes the saved plan was made with",
    "pass the plan's own options to keep them",
  ),
  APPLY_WORKLOADS_UNLISTED: w('the workloads holding the old Kubernetes CA could not be listed', 'check pod access'),

  GATE_TALOS_FAILED: e('the Talos API gate failed: some node did not answer Version with the new client', RESUME),
  GATE_KUBERNETES_FAILED: e(
    'the Kubernetes gate failed: Nodes not Ready, or Leases not renewed, or the API refused',
    RESUME,
  ),
  GATE_EXTENSION_AUTH_FAILED: e('extension-apiserver-authentication did not settle on the trusted CAs', RESUME),
  GATE_FAILED: e('(state record) a gate of the step failed', 'see the run in `rotate state show`'),
  GATE_NOT_YET: w('(progress event) a gate attempt did not pass yet', 'none: it is tried again'),
  STEP_FAILED: e('(state record) the step failed', 'see the run in `rotate state show`'),

  KEYS_UNAVAILABLE: e('a key a rollback would need cannot be escrowed; no node was touched', 'make the key available'),
  KEYS_NOT_IN_CONFIG: e('a machine config holds no key for that CA', 'read it from a control plane'),
  KEYS_ESCROW_MISSING: e('an escrowed key is missing', 'restore the state folder'),
  KEYS_ESCROW_MISMATCH: e('an escrowed key does not belong to its CA', 'restore the state folder'),
  KEYS_ESCROW_UNREADABLE: e('an escrowed key cannot be read', 'restore the state folder'),
  KEYS_ESCROW_MODE: e('an escrowed key is readable by others', 'chmod 600 it'),
  KEYS_ESCROW_NOT_FILE: e('an escrowed key path is not a regular file', 'move it away'),
  KEYS_ESCROW_PROBLEMS: e('escrowed keys need attention (each problem listed)', 'fix them'),
  KEYS_CERT_MISMATCH: bug('a key was escrowed under a certificate of another fingerprint'),

  EXTAUTH_CONFLICT: e('extension-apiserver-authentication kept changing under the write', 'run `rotate apply` again'),
  EXTAUTH_EMPTY_BUNDLE: e(
    'no valid Kubernetes CA to write into extension-apiserver-authentication',
    'add a valid CA to the desired state',
  ),

  WORKLOAD_INTERRUPTED: e('the workload phase was interrupted', '`rotate apply` resumes it'),
  WORKLOAD_RESTART_FAILED: e('some workloads did not finish their rollout', 'check them, then resume'),
  WORKLOAD_ROLLOUT_FAILED: e('a workload rollout failed', 'check it with kubectl rollout status'),
  WORKLOAD_ROLLOUT_TIMEOUT: e('a workload rollout did not complete in time', 'check it with kubectl rollout status'),
  WORKLOAD_ROOT_CA_STALE: e(
    'kube-root-ca.crt still lacks the new Kubernetes CA in some namespaces; restarting their workloads would load ' +
      'the old CA',
    'check every kube-controller-manager runs with the new CA, then resume',
  ),

  RUN_LEASE_HELD: e('the cluster run lease is held by this run from another process', 'stop that process, or wait'),
  RUN_LEASE_EXPIRED: e(
    'the run lease is held by a run that no longer renews it',
    'check, then --take-over-expired-lease',
  ),
  RUN_LEASE_UNAVAILABLE: e(
    'the run lease cannot be taken (Kubernetes API)',
    'check the kubeconfig, or pass --no-run-lease',
  ),
  RUN_LEASE_LOST: e('the run lost its lease; it started nothing after that', 'check the Kubernetes API, then resume'),
  RUN_LEASE_RENEW: e(
    'a renewal of the run lease failed (reported; the run goes on until the deadline)',
    'check the Kubernetes API',
  ),
  RUN_LEASE_SKIPPED: w(
    '--no-run-lease: nothing stops another rotation of this cluster',
    'make sure no other run is going',
  ),

  ROLLBACK_NOT_POSSIBLE: e('there is no run to roll back, or its state does not allow it', 'see the message'),

  STATE_READ_FAILED: e('the state file cannot be read', 'check its permissions'),
  STATE_WRITE_FAILED: e('the state file cannot be written', 'check the folder and free space'),
  STATE_CORRUPT: e('the state file is damaged', 'restore it from its backup'),
  STATE_VERSION_UNSUPPORTED: e('the state file is from another talos-rotate version', 'use the version named'),
  STATE_CHANGED_ELSEWHERE: e('another process changed the state file', 'check who, then run again'),
  STATE_LOCKED: e('the state is locked by another run', 'wait (--lock-timeout) or let it finish'),
  STATE_LOCK_STALE: e('the state lock is stale (its process is gone)', 'break it with `rotate state unlock`'),
  STATE_LOCK_HOLDER_ALIVE: e('the lock holder is still alive; it is not broken', 'let it finish'),
  STATE_LOCK_ID_MISMATCH: e('the lock id given does not match the lock', 'pass the id shown'),
  STATE_LOCK_CHANGED: e('the lock changed while it was being broken', 'look at the new holder'),
  STATE_LOCK_UNREADABLE: e('the lock file cannot be read as a lock', 'remove it if no run is going'),
  STATE_LOCK_WRITE_FAILED: e('the lock file cannot be created', "check the folder's permissions"),
  STATE_NOT_LOCKED: e('there is no lock to break', 'check --state'),
  STATE_KEY_REQUIRED: e('the state is encrypted and no key is given', 'set ROTATE_STATE_KEY or ROTATE_STATE_KEY_FILE'),
  STATE_KEY_WRONG: e('the state is encrypted with another key', 'give the key it was encrypted with'),
  STATE_KEY_INVALID: e('the state key is not 32 random bytes (base64 or hex)', 'generate a proper key'),
  STATE_SEALED_DAMAGED: e('an encrypted file does not decrypt: damaged or altered', 'restore it from a backup'),
  STATE_SEALED_UNREADABLE: e('an encrypted file is not in a format this version reads', 'restore it from a backup'),
  STATE_INVALID_WRITE: bug('an invalid state document was about to be written (refused)'),
  STATE_KEY_MATERIAL: bug('key material was about to be written into the state (refused)'),
  STATE_TRANSITION_INVALID: bug('a run record transition that is not allowed (refused)'),
  STATE_INTERNAL: bug('a state key of the wrong size reached the cipher'),

  STATUS_EXPIRED: w('a CA in use has expired', 'rotate it'),
  STATUS_EXPIRING: w('a CA in use expires soon', 'rotate it'),
  STATUS_DRIFT: w('the cluster differs from the desired state', 'see `rotate plan`'),
  STATUS_UNFINISHED_RUN: w('an unfinished run is recorded', 'resume or roll it back'),
  STATUS_CLIENT_UNREADABLE: w('an operator client file cannot be read', 'check the file'),

  LAB_BAD_OPTION: e('a `rotate lab` option is not valid', 'see `rotate lab --help`'),
  LAB_DIR: e('the lab folder cannot be used', 'pass a writable folder'),
  LAB_ALREADY_RUNNING: e('a lab runs in that folder already', 'stop it first'),
  LAB_NOT_RUNNING: e('no lab runs in that folder', 'start one'),
  LAB_NOT_READY: e('the lab is still starting', 'wait for it'),
  LAB_START_FAILED: e('the lab process could not start', 'see its log'),
  LAB_START_TIMEOUT: e('the lab was not Ready in time and was stopped', 'see its log'),
  LAB_STOP_FAILED: e('the lab process survived SIGKILL', 'check the process'),
  LAB_DAEMON_USAGE: e('the lab daemon was started without its argument', 'start labs with `rotate lab up --detach`'),
  LAB_FILE_READ: e('a lab file cannot be read', 'check the folder permissions'),
  LAB_FILE_INVALID: e('a lab file is not valid', 'restart the lab'),
  LAB_INSPECT_INVALID: e('the lab answered inspect with an unexpected shape', 'restart the lab with this build'),
  LAB_UNKNOWN_NODE: e('the lab has no such node', 'use one listed'),
  LAB_BAD_FAULT: e('a fault request is not valid', 'see `rotate lab fault --help`'),
  LAB_APPLY_LOCK_BUSY: e("the node's apply lock is taken", 'try again in a moment'),
  LAB_NO_ADDRESS_BLOCK: e('no free loopback address block', 'stop other labs'),
  LAB_LOOPBACK_UNUSABLE: e('the loopback addresses cannot be bound', 'the lab needs 127.0.0.0/8 on loopback'),
  LAB_ADDRESS_IN_USE: e("another process uses the lab's address block", 'start again (another block is chosen)'),
  LAB_KUBE_START: e("the lab's Kubernetes side could not start", 'see the message'),
  LAB_NO_KUBERNETES_CA: e(
    'no control plane has a usable Kubernetes CA to sign an admin certificate',
    'fix the lab configs',
  ),
  LAB_CONTROL_UNREACHABLE: e('the lab control API cannot be reached', 'see the lab log'),
  LAB_CONTROL_BAD_REPLY: e('the lab control API answered something else than JSON', 'restart the lab'),
  LAB_CONTROL_FAILED: e('the lab control API reported a failure', 'see the message and the lab log'),
  LAB_CONTROL_BAD_REQUEST: e('the lab control API got a request it cannot read', 'use `rotate lab` commands'),
  LAB_CONTROL_UNAUTHORIZED: e('wrong or missing lab control token', 'use the token from the lab file'),
  LAB_CONTROL_NOT_FOUND: e('no such lab control endpoint', 'use `rotate lab` commands'),
  LAB_CONTROL_INTERNAL: bug('the lab control API failed unexpectedly'),
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The prefix a code's section is named by (longest match: TALOSCONFIG before TALOS). */
export function sectionOf(code: string): string {
  return Object.keys(ERROR_CODE_SECTIONS)
    .filter((p) => code.startsWith(`${p}_`))
    .sort((a, b) => b.length - a.length)[0]!;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** docs/errors.md (regenerate: `ROTATE_UPDATE_DOCS=1 npx tap test/domain/error-codes.test.ts`). */
export function renderErrorsDoc(): string {
  const out = [
    '# Error and warning codes',
    '',
    '<!-- Generated from src/domain/error-codes.ts by renderErrorsDoc(); do not edit by hand.',
    '     Regenerate: ROTATE_UPDATE_DOCS=1 npx tap test/domain/error-codes.test.ts -->',
    '',
    'Every failure talos-rotate expects has a stable code, printed as `error[CODE]: message` with a `hint:`',
    'line that says the fix for that case (and as `code`, `message`, `hint` in JSON output). Warnings print',
    'their code as `[CODE]`. Codes are UPPER_SNAKE with a prefix per part of the tool; a code never changes',
    'meaning. Errors marked *bug* mean an invariant of talos-rotate broke: the CLI asks you to report them.',
    'Progress event codes (`TR_APPLY_…`) are in [events.md](events.md).',
    '',
  ];
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];
  for (const [prefix, title] of Object.entries(ERROR_CODE_SECTIONS)) {
    const mine = codes.filter((c) => sectionOf(c) === prefix).sort();
    if (mine.length === 0) continue;
    out.push(`## ${title}`, '', '| Code | Kind | Meaning | What to do |', '|---|---|---|---|');
    for (const code of mine) {
      const info: ErrorCodeInfo = ERROR_CODES[code];
      const kind = info.fix.startsWith('a bug in talos-rotate') ? 'bug' : info.kind;
      out.push(`| \`${code}\` | ${kind} | ${cell(info.meaning)} | ${cell(info.fix)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
