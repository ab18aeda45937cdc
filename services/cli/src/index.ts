export { renderSites, renderWorkloads } from './commands/status';
export { createApiClient, type ApiClient } from './api-client';
