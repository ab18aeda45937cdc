export * from './kernel/index';
export * from './net/index';
export * from './pg/index';
export * from './check/index';
export * from './estate/index';
