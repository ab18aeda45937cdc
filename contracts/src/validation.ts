import type { z } from 'zod';

/** One problem found in an input, named by its path (`workloads[2].rpoSeconds`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Pure. Renders a zod path as `a.b[2].c`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Pure. Turns a zod error into a flat list of issues, each naming its field. */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

/** Pure. One line per issue: `workloads[2].rpoSeconds: expected a positive number`. */
export function formatFieldIssues(issues: ReadonlyArray<FieldIssue>): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('\n');
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

/** Pure. Parses `input` with `schema`; never throws. */
export function safeParseWith<T>(schema: z.ZodType<T>, input: unknown): ParseResult<T> {
  const r = schema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, issues: toFieldIssues(r.error) };
}
