import { buildTimeline } from '@drc/history';
import { runEstate, renderTimeline } from './src/index';
const seed = Number(process.argv[2]); const w = process.argv[3]!; const from = Number(process.argv[4]) * 1000; const to = Number(process.argv[5]) * 1000;
const r = await runEstate({ seed, durationMs: Number(process.argv[7] ?? 300) * 1000, keepTrace: true, stopOnViolation: true });
const re = new RegExp(process.argv[6] ?? '.');
console.log(renderTimeline(r.full!.trace.filter(e => e.t >= from && e.t <= to && e.detail !== '' && re.test(e.proc + ' ' + e.kind + ' ' + e.detail))));
const evs = r.full!.events.filter(e => e.stream === `workload-${w}`);
for (const h of buildTimeline(evs as any)) if (h.at !== undefined && h.at - Date.UTC(2030,0,1) >= from - 5000) console.log(`${h.position} ${((h.at - Date.UTC(2030,0,1))/1000).toFixed(3)} ${h.kind} ${h.type} ${h.actor ?? ''} ${h.summary} ${h.details.slice(0,2).join(' | ')}`.slice(0, 240));
