export {
  foldWorkloadStream,
  foldWorkloadTail,
  settle,
  INPUT_TYPES,
  WORKLOAD_REGISTERED,
  STATE_CHANGED,
  type Folded,
  type PendingTimer,
  type PendingCommand,
  type HistoryEvent,
} from './fold';
export { TIMER_SCHEDULED, TIMER_CANCELLED } from './fold';
export { verifyReplay, canonicalJson, type ReplayReport, type ReplayMismatch } from './replay';
export { eventsForStep, registrationEvent, type Writer, type Origin, type RecordedEvent } from './record';
export { recordStream, simulateInputs, recordSiteLoss } from './testing';
export { whatIf, compareTimelines, type WhatIfReport, type TimelineEntry } from './whatif';
export { foldPlanRunStream, planEventsForInput, planRunOpeningEvents, PLAN_INPUT_RECEIVED, PLAN_RUN_CREATED, type FoldedPlanRun } from './plan';
export { buildTimeline, eventsBetween, stateAt, eventAt, recordedMs, type HistoryEntry, type HistoryEntryKind, type TimedEvent, type WorkloadStateAt } from './timeline';
export { failoverReports, failoverRecords } from './failover-report';
