/** Plain-text tables and colours for a terminal; `--json` callers never come here. */
const useColour = process.stdout.isTTY && !process.env.NO_COLOR;

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, grey: 90, bold: 1 } as const;
export type Colour = keyof typeof CODES;

export function colour(c: Colour, text: string): string {
  return useColour ? `\u001b[${CODES[c]}m${text}\u001b[0m` : text;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
const width = (s: string) => s.replace(ANSI, '').length;

/** Pure. Renders rows as an aligned table with a header line. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) => cells.map((c, i) => c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - width(c)))).join('  ').trimEnd();
  return [line(headers.map((h) => colour('bold', h))), ...rows.map(line)].join('\n');
}

/** Colour for a workload state, so a NOC glance finds trouble first. */
export function stateColour(state: string): Colour {
  if (state === 'protected') return 'green';
  if (state.startsWith('failingOver') || state === 'suspect' || state.startsWith('switchingOver') || state === 'reprotecting') return 'yellow';
  if (state === 'failedOver') return 'cyan';
  if (state === 'escalated' || state === 'awaitingApproval') return 'red';
  return 'grey';
}

export function siteColour(status: string): Colour {
  return status === 'up' ? 'green' : status === 'lost' ? 'red' : status === 'suspect' ? 'yellow' : 'grey';
}

/** Pure. Rows as CSV (RFC 4180: fields with a comma, quote or line break are quoted), CRLF line ends. */
export function csv(headers: string[], rows: string[][]): string {
  const field = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  return [headers, ...rows].map((r) => `${r.map(field).join(',')}\r\n`).join('');
}
