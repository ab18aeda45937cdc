export * from './kernel/index';
