export { runEventStoreContract, newEvent, type StoreFixture } from './contract';
