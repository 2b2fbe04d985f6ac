/** Public surface of key escrow: keys a rollback needs, saved in the state folder before apply starts. */
export {
  escrowKeys,
  loadEscrowedKey,
  escrowDir,
  escrowKeyPath,
  escrowCertificatePath,
  KEYS_DIR_NAME,
  type EscrowItem,
  type EscrowedKey,
} from './escrow.js';
export { authorityKeyItem, machineConfigKeyItem, describeKeySource } from './sources.js';
