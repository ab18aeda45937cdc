import { resolveTimeSpec, TIME_SPEC_HELP } from '@drc/contracts';
import { InvalidArgumentError } from 'commander';

/** Commander parser for a time option: checks it and resolves it to ISO-8601 against this machine's clock (usage error otherwise). */
export function timeOption(spec: string): string {
  const t = resolveTimeSpec(spec, Date.now());
  if (t === undefined) throw new InvalidArgumentError(`expected ${TIME_SPEC_HELP}`);
  return new Date(t).toISOString();
}
