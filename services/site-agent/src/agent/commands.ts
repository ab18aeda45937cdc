import { CommandSchema, type AgentIncarnation, type Command, type CommandResult, type Subjects } from '@drc/contracts';
import { context, decodeJson, encodeJson, runWithMessageContext, trace, type BusMessage, type Clock, type Logger } from '@drc/runtime';
import { SpanKind, type Tracer } from '@opentelemetry/api';
import { isDriverError, type WorkloadDriver } from '../drivers/driver';
import type { AgentBus, AgentJournal } from './ports';
import { activeTraceHeaders, recordCarrier } from './trace-headers';

export interface CommandExecutorOptions {
  siteId: string;
  subjects: Subjects;
  incarnation: AgentIncarnation;
  clock: Clock;
  bus: AgentBus;
  journal: AgentJournal;
  logger: Logger;
  tracer: Tracer;
  drivers: ReadonlyMap<string, WorkloadDriver>;
  /** Told when a command made this site's copy serve again (promote, unfence): a self-fence is over. */
  onPrimaryAgain: () => void;
  isStopped: () => boolean;
}

/** Pure. The workload a command is for, read without validating it ('' when there is none: handleCommand judges it). */
function workloadKeyOf(data: Uint8Array): string {
  try {
    const v = decodeJson(data) as { workloadId?: unknown } | null;
    return typeof v?.workloadId === 'string' ? v.workloadId : '';
  } catch {
    return '';
  }
}

interface Remembered {
  result: CommandResult;
}

/**
 * The agent's command execution: per-workload queues, the epoch fence, answers to repeats from
 * memory (and the journal), deadlines, and results kept through a bus outage.
 *
 * Safety: a command whose epoch is older than the newest seen for its workload is refused
 * (fencing token, journaled before anything is done under it); a repeated command id is
 * answered with the first result, never run twice; a command past its deadline is refused.
 */
export class CommandExecutor {
  private readonly newestEpoch = new Map<string, number>();
  private readonly done = new Map<string, Remembered>();
  /** Results the bus did not take (an outage), by command id: sent again after the next renewed lease. */
  private readonly unsent = new Map<string, CommandResult>();
  private resending = false;
  /** The last command queued for each workload (run or waiting): the next one runs after it. */
  private readonly commandQueues = new Map<string, Promise<void>>();

  constructor(private readonly o: CommandExecutorOptions) {
    for (const [w, e] of o.journal.state.epochs) this.newestEpoch.set(w, e);
    // A result from an earlier run is sent again (to a repeated command) by this one.
    for (const [id, result] of o.journal.state.results) this.done.set(id, { result: { ...result, incarnation: o.incarnation } });
  }

  /** The newest epoch seen for a workload (undefined: none yet). */
  epochOf(workloadId: string): number | undefined {
    return this.newestEpoch.get(workloadId);
  }

  /**
   * Queues a delivered command: workloads side by side, each workload's commands one after the
   * other in the order they came (one at a time for the whole site let a 90 s exec fence of one
   * workload hold another workload's fence until 64 s past its deadline). A redelivered command
   * id queues behind its first delivery on the same workload, so it is answered from memory,
   * never run twice. Acknowledged once answered (or found garbage).
   */
  enqueue(m: BusMessage): void {
    const key = workloadKeyOf(m.data);
    const before = this.commandQueues.get(key) ?? Promise.resolve();
    const queued: Promise<void> = before
      // The coordinator's decision span (message headers) is the parent of the execution span.
      .then(() => runWithMessageContext(m.headers ? recordCarrier({ ...m.headers }) : undefined, () => this.onCommand(m.data)))
      .catch((e: unknown) => this.o.logger.error({ err: e, workloadId: key }, 'command handling failed'))
      .then(() => {
        m.ack();
        if (this.commandQueues.get(key) === queued) this.commandQueues.delete(key);
      });
    this.commandQueues.set(key, queued);
  }

  /** Parses, checks and executes one command inside a span; always answers (except to garbage). */
  async onCommand(data: Uint8Array): Promise<CommandResult | undefined> {
    const span = this.o.tracer.startSpan('execute command', { kind: SpanKind.CONSUMER, attributes: { 'drc.site.id': this.o.siteId } });
    try {
      return await context.with(trace.setSpan(context.active(), span), () => this.handleCommand(data));
    } finally {
      span.end();
    }
  }

  private async handleCommand(data: Uint8Array): Promise<CommandResult | undefined> {
    let cmd: Command;
    try {
      cmd = CommandSchema.parse(decodeJson(data));
    } catch (e) {
      this.o.logger.warn({ err: e }, 'malformed command ignored');
      return undefined;
    }
    const log = this.o.logger.child({ workloadId: cmd.workloadId, commandId: cmd.commandId, action: cmd.action, epoch: cmd.epoch });
    log.debug({ queuedMs: this.o.clock.now() - cmd.issuedAt }, 'command received');
    const seen = this.done.get(cmd.commandId);
    if (seen) {
      log.info('repeated command: answering with the first result');
      await this.publish(seen.result);
      return seen.result;
    }
    const startedAt = this.o.clock.now();
    const answer = async (status: CommandResult['status'], reason?: string, detail: Record<string, unknown> = {}) => {
      const result: CommandResult = {
        kind: 'commandResult', v: 1, incarnation: this.o.incarnation, commandId: cmd.commandId, workloadId: cmd.workloadId, siteId: this.o.siteId, action: cmd.action, epoch: cmd.epoch,
        status, ...(reason !== undefined ? { reason } : {}), startedAt, completedAt: this.o.clock.now(), detail,
      };
      this.done.set(cmd.commandId, { result });
      if (this.done.size > 10_000) this.done.delete(this.done.keys().next().value!);
      const recorded = this.o.journal.recordResult(result);
      if (recorded) await recorded; // a synchronous journal adds no turn of the event loop
      await this.publish(result);
      log.info({ status, reason, tookMs: this.o.clock.now() - startedAt }, 'command answered');
      return result;
    };
    if (cmd.siteId !== this.o.siteId) return answer('refused', `command for site ${cmd.siteId} reached site ${this.o.siteId}`);
    const driver = this.o.drivers.get(cmd.workloadId);
    if (!driver) return answer('refused', `unknown workload ${cmd.workloadId} at site ${this.o.siteId}`);
    const newest = this.newestEpoch.get(cmd.workloadId) ?? 0;
    if (cmd.epoch < newest) return answer('refused', `stale epoch ${cmd.epoch}: newest seen for ${cmd.workloadId} is ${newest}`);
    if (startedAt > cmd.deadline) return answer('refused', `deadline passed ${startedAt - cmd.deadline} ms ago`);
    // The fencing token is on disk before anything is done under it.
    // (A synchronous journal, the file one, adds no turn of the event loop between the check above and this.)
    const recorded = this.o.journal.recordEpoch(cmd.workloadId, cmd.epoch);
    if (recorded) await recorded;
    this.newestEpoch.set(cmd.workloadId, cmd.epoch);
    if (!driver.capabilities.has(cmd.action)) return answer('failed', `unsupported: the ${driver.type} driver cannot ${cmd.action}`);
    const ac = new AbortController();
    const timer = this.o.clock.setTimeout(() => ac.abort(), Math.max(0, cmd.deadline - startedAt));
    try {
      const out = await driver.execute(cmd.action, cmd.params, { commandId: cmd.commandId, epoch: cmd.epoch, deadline: cmd.deadline, signal: ac.signal });
      if (cmd.action === 'promote' || cmd.action === 'unfence') this.o.onPrimaryAgain();
      return await answer('done', undefined, out.detail ?? {});
    } catch (e) {
      return answer('failed', isDriverError(e) ? e.reason : `driver error: ${(e as Error).message}`);
    } finally {
      this.o.clock.clearTimeout(timer);
    }
  }

  private async publish(result: CommandResult): Promise<void> {
    try {
      await this.o.bus.publish(this.o.subjects.commandResult(this.o.siteId), encodeJson(result), { headers: activeTraceHeaders() });
      this.unsent.delete(result.commandId);
    } catch (e) {
      // Kept and sent again once NATS is back: a coordinator waiting on a promotion hears of it
      // then, not only after its command times out and is sent again. (A duplicate result is
      // harmless: the coordinator acts on the first and dead-letters the rest.)
      this.unsent.set(result.commandId, result);
      this.o.logger.error({ err: e, commandId: result.commandId }, 'result not published; kept until NATS is back');
    }
  }

  /** Sends the results that could not be published, oldest first, one round at a time (after a renewed lease). */
  async resendUnsent(): Promise<void> {
    if (this.resending || this.unsent.size === 0) return;
    this.resending = true;
    try {
      for (const result of [...this.unsent.values()]) {
        if (this.o.isStopped()) return;
        this.o.logger.info({ commandId: result.commandId }, 'publishing a result kept during a NATS outage');
        await this.publish(result);
        if (this.unsent.has(result.commandId)) return; // still down: next beat
      }
    } finally {
      this.resending = false;
    }
  }
}
