export { Projector, type ProjectorOptions, type ProjectionStatus } from './projector';
export { projectionTables, projectionDdl, type ProjectionTables } from './tables';
