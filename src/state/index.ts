/** Public surface of the state module: the state document, its store, its lock, its paths. */
export type * from './types.js';
export { STATE_VERSION, EVENTS_CAP } from './types.js';
export { defaultStatePath, resolveStatePath, statePaths, STATE_DIR_NAME, STATE_SUFFIX } from './paths.js';
export {
  openFileStateStore,
  createMemoryStateStore,
  stateStoreOn,
  MemoryStateBacking,
  type StateStore,
  type StateReadWrite,
  type StateLocker,
  type RunRecorder,
  type StartRunInput,
  type OutputInput,
  type KeyInput,
  type StateStoreOptions,
} from './store.js';
export { PrivateJsonFile, MemoryStateAdapter, type StateBackend } from './backends.js';
export { parseStateText, serializeState, type StateLocation } from './codec.js';
export {
  StateLockError,
  acquireLock,
  breakLock,
  readLock,
  releaseLock,
  lockStatus,
  describeHolder,
  unlockCommand,
  parseDuration,
  formatDurationMs,
  FileLockSlot,
  MemoryLockSlot,
  LOCK_FIRST_DELAY_MS,
  LOCK_MAX_DELAY_MS,
  type LockInfo,
  type LockStatus,
  type LockRequest,
  type LockWait,
  type LockWaitOptions,
  type LockSlot,
} from './lock.js';
export type { HolderIdentity, HolderLiveness } from '../util/process-identity.js';
export {
  toErrorRecord,
  unfinishedRunOf,
  isUnfinished,
  beforeFromObserved,
  runPlans,
  type FinalStatus,
} from './runs.js';
export { containsKeyMaterial } from './key-material.js';
export { renderStateSummary } from './render.js';
export { openLockedState, type LockedState } from './open.js';
