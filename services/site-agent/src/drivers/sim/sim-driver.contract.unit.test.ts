import { describeDriverContract } from '../../testing/index';
import { SimDriver } from './sim-driver';

describeDriverContract('sim', async () => ({ driver: new SimDriver('primary', { lagSeconds: 0, actionDelayMs: 0 }), idempotent: ['fence', 'snapshot', 'redirect'] }));
