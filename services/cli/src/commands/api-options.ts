import type { Command } from 'commander';
import { createApiClient, defaultApiUrl, type ApiClient } from '../api-client';

/** Options every API-backed command takes. */
export interface ApiOptions {
  api: string;
  token?: string;
  json?: boolean;
}

/** Adds --api, --token and --json to a command (not pure: mutates `cmd`). */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--api <url>', 'coordinator API base URL [DRC_API_URL]', defaultApiUrl())
    .option('--token <token>', 'API bearer token [DRC_TOKEN]')
    .option('--json', 'print JSON');
}

/** The API client for the parsed options (--token wins over DRC_TOKEN). */
export function clientFor(opts: ApiOptions): ApiClient {
  return createApiClient(opts.api, opts.token ?? process.env.DRC_TOKEN);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
