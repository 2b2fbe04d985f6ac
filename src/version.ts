import { readFileSync } from 'node:fs';

/** The tool's version, read once from package.json (recorded in plans and state files). */
export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
