export { PgCluster, type PgCopy, type CopyRole, type WalRecord, type AckedWrite, type PgClusterOptions } from './cluster';
export { SimPgDriver, CALM_PG, type PgDriverFaults } from './driver';
