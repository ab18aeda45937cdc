import { STATECHART_VERSION, toJson, toMermaid } from '@drc/statecharts';
import { Option, type Command } from 'commander';

/** `drc statechart`: the workload statechart as a picture (Mermaid) or as JSON. */
export function registerStatechartCommand(program: Command): void {
  program
    .command('statechart')
    .description(`print the workload statechart (${STATECHART_VERSION}) as a Mermaid diagram or JSON`)
    .addOption(new Option('--format <format>', 'output format').choices(['mermaid', 'json']).default('mermaid'))
    .action((opts: { format: 'mermaid' | 'json' }) => {
      process.stdout.write(opts.format === 'json' ? `${JSON.stringify(toJson(), null, 2)}\n` : toMermaid());
    });
}
