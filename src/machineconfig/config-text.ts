/**
 * MachineConfigText: a config's text with its parse, CA state and redacted text computed at most once.
 */
import type { Secret } from '../domain/secret.js';
import type { ApiKind } from '../domain/types.js';
import { caKeyOf, caStateOf, type MachineConfigCaState } from './ca-state.js';
import { parseMachineConfig, type ParsedMachineConfig } from './documents.js';
import { redactParsed } from './redact.js';

/**
 * One machine config text with what is derived from it, each computed at most once: the parsed documents,
 * the CA state and the redacted text. A plan walks every node's config through several steps; the config
 * one step produces is the next step's input, so its parse (made anyway to verify the patch) is reused
 * instead of being redone for every reader. The parsed documents are never modified (patching edits the
 * text), so sharing them is safe. Holds the parse in memory: keep these only while a node is worked on.
 */
export class MachineConfigText {
  readonly text: string;
  readonly source: string | undefined;
  #parsed: ParsedMachineConfig | undefined;
  #state: MachineConfigCaState | undefined;
  #redacted: string | undefined;

  /** `parsed`, when given, must be `parseMachineConfig(text, source)`. */
  constructor(text: string, source?: string, parsed?: ParsedMachineConfig) {
    this.text = text;
    this.source = source;
    this.#parsed = parsed;
  }

  /** The parsed documents (MC_* errors as parseMachineConfig). */
  get parsed(): ParsedMachineConfig {
    this.#parsed ??= parseMachineConfig(this.text, this.source);
    return this.#parsed;
  }

  /** readCaState of the text. Shared: callers must not modify it. */
  get caState(): MachineConfigCaState {
    this.#state ??= caStateOf(this.parsed);
    return this.#state;
  }

  /** redactSecrets of the text. */
  get redacted(): string {
    this.#redacted ??= redactParsed(this.parsed);
    return this.#redacted;
  }

  caKey(api: ApiKind): Secret | null {
    return caKeyOf(this.parsed, api);
  }
}
