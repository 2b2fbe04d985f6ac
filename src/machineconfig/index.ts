/** Public surface of the machine-config module: pure functions over config YAML text (no I/O). */
export { readCaState, readCaKey, type ConfigCa, type ApiCaState, type MachineConfigCaState } from './ca-state.js';
export { patchCaState, patchConfig, type CaWrite, type CaChange } from './ca-patch.js';
export { MachineConfigText } from './config-text.js';
export { redactSecrets, isSecretPath, isSecretName, SECRET_PATHS, REDACTED } from './redact.js';
export type { MachineType } from './ca-sites.js';
