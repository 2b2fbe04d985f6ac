/** Public surface of the desired-state module: types, loading/validation, key access for apply. */
export type {
  Authority,
  BundleEntry,
  CertificateSource,
  DesiredApi,
  DesiredCluster,
  DesiredState,
  Diagnostic,
  DiagnosticSeverity,
  KeySource,
  LoadOptions,
  ValidationResult,
} from './types.js';
export { DESIRED_STATE_VERSION } from './types.js';
export { loadDesiredState, validateDesiredFile } from './load.js';
export { loadAuthorityKey, EXPIRY_WARNING_MS } from './material.js';
export { DesiredStateError, formatDiagnostic, sortDiagnostics } from './diagnostics.js';
export { SCHEMA_URL, desiredStateSchema } from './schema.js';
