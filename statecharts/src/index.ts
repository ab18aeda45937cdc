export * from './workload/index';
export * from './plan/index';
