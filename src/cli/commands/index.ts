import type { CommandModule } from 'yargs';
import { applyCommand } from './apply/command.js';
import { caCommand } from './ca/command.js';
import { initCommand } from './init/command.js';
import { labCommand } from './lab/command.js';
import { planCommand } from './plan/command.js';
import { rollbackCommand } from './rollback/command.js';
import { stateCommand } from './state/command.js';
import { statusCommand } from './status/command.js';
import { validateCommand } from './validate/command.js';

/** Every top-level command, in the order `rotate --help` lists them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  initCommand,
  validateCommand,
  planCommand,
  applyCommand,
  rollbackCommand,
  statusCommand,
  stateCommand,
  caCommand,
  labCommand,
];
