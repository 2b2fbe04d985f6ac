export { planRotation } from './plan.js';
export {
  expandPhases,
  acceptTarget,
  issueTarget,
  dropTarget,
  isDocumentWorker,
  type ApiPhase,
  type PhaseNode,
} from './phases.js';
export { PREFERRED } from './orders.js';
export { podDisruptionNotice } from './notices.js';
export { refuseIfRefused } from './refusal.js';
