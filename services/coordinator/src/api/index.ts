export { createApi, type ApiDeps } from './app';
export { ApiError, mapError } from './errors';
export { createBearerAuth, requireRole, hashToken, type Principal } from './auth';
export { isMovingPrimary } from './lb';
export { buildOpenApiDocument } from './openapi';
