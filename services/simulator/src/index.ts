export * from './kernel/index';
export * from './net/index';
