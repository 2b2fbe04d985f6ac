export { CaIndex, NO_CA, MAX_CAS } from './cas.js';
export {
  evaluateStep,
  evaluateState,
  classLabel,
  type Finding,
  type ModelClient,
  type StepEvaluation,
  type StepSpec,
  type Version,
} from './engine.js';
export {
  initialWorld,
  resolveEndpoints,
  stripPort,
  trustOf,
  sameApiState,
  stateKey,
  staleBundles,
  TargetInterner,
  type EndpointResolution,
  type ModelNode,
  type ModelTarget,
  type TalosGrant,
  type TrustState,
} from './world.js';
export {
  evaluateSequence,
  sequenceHistory,
  failingPairs,
  strandedKubelets,
  summarizeOutcomes,
  type EdgeOutcome,
  type PossibleGrant,
  type SequenceOptions,
  type SequencePatch,
  type SequenceStart,
} from './sequence.js';
