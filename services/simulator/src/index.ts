export * from './kernel/index';
export * from './net/index';
export * from './pg/index';
