import { readFileSync } from 'node:fs';
import { parseDrcConfig, type DrcConfig, type FieldIssue } from '@drc/contracts';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError } from './errors';

/** Reads a YAML or JSON document. Throws ConfigError naming the file (and line) on unreadable or malformed input. */
export function readDocument(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(e as Error).message}` }], { cause: e });
  }
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
    throw new ConfigError(file, [{ path: '(syntax)', message: `not valid YAML/JSON${where}: ${(e as Error).message.split('\n')[0]}` }], { cause: e });
  }
}

/** Checks a drc config file without throwing: the issues name every bad field. */
export function validateConfigFile(file: string): { ok: true; config: DrcConfig } | { ok: false; issues: FieldIssue[] } {
  let doc: unknown;
  try {
    doc = readDocument(file);
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, issues: e.issues };
    throw e;
  }
  const r = parseDrcConfig(doc);
  return r.ok ? { ok: true, config: r.value } : { ok: false, issues: r.issues };
}

/** Loads a drc config file. Throws ConfigError listing every bad field. */
export function loadConfigFile(file: string): DrcConfig {
  const r = validateConfigFile(file);
  if (!r.ok) throw new ConfigError(file, r.issues);
  return r.config;
}
