export type * from './input.js';
export * from './plan.js';
