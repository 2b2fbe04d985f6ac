import { PACKAGE_VERSION } from './package-root.js';

/** The tool's version, read once from package.json (recorded in plans and state files). */
export const TOOL_VERSION: string = PACKAGE_VERSION ?? 'unknown';
