export { createApi, type ApiDeps } from './app';
export { ApiError, mapError } from './errors';
