export { Prng } from './prng';
export { Scheduler, SimProcess, SIM_EPOCH_MS, drainMicrotasks, type SimEvent, type RunOptions, type ProcessState } from './scheduler';
export { SimClock, withVirtualGlobals } from './clock';
export { Trace, renderTimeline, type TraceEntry } from './trace';
