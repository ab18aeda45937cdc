export * from './workload/index';
