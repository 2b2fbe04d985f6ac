export type * from './input.js';
export * from './plan.js';
export type * from './workloads.js';
