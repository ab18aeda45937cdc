export { SimDriver, createSimDriver, SimSettingsSchema, type SimSettings, type SimControls } from './sim-driver';
