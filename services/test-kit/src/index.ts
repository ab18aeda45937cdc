export * from './env';
export * from './unique';
export * from './postgres';
export * from './nats';
export * from './process';
export * from './pg-server';
export * from './tcp-proxy';
export * from './pg-pair';
