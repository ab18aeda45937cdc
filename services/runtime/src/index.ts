export * from './errors';
export * from './config-file';
export * from './logger';
export * from './nats';
export * from './telemetry/index';
export * from './process-entry';
export * from './ports';
export * from './nats-ports';
