import type { CommandModule } from 'yargs';
import { applyCommand } from './apply.js';
import { caCommand } from './ca.js';
import { initCommand } from './init.js';
import { labCommand } from './lab.js';
import { planCommand } from './plan.js';
import { rollbackCommand } from './rollback.js';
import { stateCommand } from './state.js';
import { statusCommand } from './status.js';
import { validateCommand } from './validate.js';

/** Every top-level command, in the order `rotate --help` lists them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [initCommand, validateCommand, planCommand, applyCommand, rollbackCommand, statusCommand, stateCommand, caCommand, labCommand];
