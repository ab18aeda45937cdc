export { createPostgresDriver, lsnToPosition, PostgresDriver, PostgresSettingsSchema, type PostgresSettings } from './postgres-driver';
