import type { FieldIssue } from '@drc/contracts';

/** A configuration file that cannot be used; `issues` names every bad field. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const;
  readonly retryable = false;
  constructor(
    readonly file: string,
    readonly issues: FieldIssue[],
    options?: { cause?: unknown },
  ) {
    super(`${file}: invalid configuration\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, options);
    this.name = 'ConfigError';
  }
}

export function isConfigError(e: unknown): e is ConfigError {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'CONFIG_INVALID';
}

/** NATS (or another dependency) could not be reached; the message says where we looked and how to fix it. */
export class DependencyUnavailableError extends Error {
  readonly code = 'DEPENDENCY_UNAVAILABLE' as const;
  readonly retryable = true;
  constructor(
    readonly dependency: 'nats' | 'postgres',
    readonly address: string,
    hint: string,
    options?: { cause?: unknown },
  ) {
    super(`${dependency} is not reachable at ${address}: ${hint}`, options);
    this.name = 'DependencyUnavailableError';
  }
}

export function isDependencyUnavailableError(e: unknown): e is DependencyUnavailableError {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'DEPENDENCY_UNAVAILABLE';
}
