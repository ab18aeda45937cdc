export { createExecDriver, ExecDriver, ExecSettingsSchema, type ExecSettings } from './exec-driver';
