export { renderPlanText, nodeChanges } from './human.js';
export { renderPlanJson, parsePlanDocument } from './json.js';
