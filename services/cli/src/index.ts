export { renderSites, renderWorkloads } from './commands/status';
export { createApiClient, type ApiClient } from './api-client';
export { loadTimeline, renderTimeline, timelineCsv, renderReport } from './commands/history';
