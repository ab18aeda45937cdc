/**
 * Test code shared with other workspaces (`@drc/site-agent/testing`): the driver contract suite
 * every driver passes (this package's drivers, the simulator's). Not shipped: it imports vitest.
 */
export { describeDriverContract, type ContractSubject } from './driver-contract';
