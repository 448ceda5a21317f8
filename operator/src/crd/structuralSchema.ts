import { z } from 'zod';

/** An OpenAPI v3 schema as a CustomResourceDefinition holds it (`JSONSchemaProps`). */
export type StructuralSchema = { [key: string]: unknown };

/** Thrown when a zod schema uses something a structural CRD schema cannot hold. */
export class StructuralSchemaError extends Error {
  public readonly path: string;

  public constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'StructuralSchemaError';
    this.path = path;
  }
}

type JsonSchema = { [key: string]: unknown };

// Copied as they are: value validations and Kubernetes extensions a structural schema allows.
const KEPT_KEYS = new Set([
  'description',
  'enum',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'format',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);
// JSON Schema bookkeeping with no structural meaning; pruning replaces `additionalProperties: false`.
const DROPPED_KEYS = new Set([
  '$schema',
  'propertyNames',
  'additionalProperties',
  'type',
  'properties',
  'required',
  'items',
  'default',
  'const',
  'anyOf',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNullSchema(schema: unknown): boolean {
  return isSchema(schema) && schema.type === 'null';
}

function typeOf(schema: JsonSchema, path: string): string | undefined {
  const type = schema.type;
  if (type === undefined) return undefined;
  if (typeof type !== 'string' || !TYPES.has(type)) {
    throw new StructuralSchemaError(path, `unsupported type ${JSON.stringify(type)}`);
  }
  return type;
}

// zod writes `nullable()` as `type: [T, 'null']` or `anyOf: [T, {type: 'null'}]`.
function withoutNull(schema: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  if (Array.isArray(schema.type) && schema.type.includes('null')) {
    const types = schema.type.filter((type) => type !== 'null');
    return { schema: { ...schema, type: types.length === 1 ? types[0] : types }, nullable: true };
  }
  if (Array.isArray(schema.anyOf) && schema.anyOf.some(isNullSchema)) {
    const rest = schema.anyOf.filter((branch) => !isNullSchema(branch));
    const { anyOf: _anyOf, ...outer } = schema;
    const inner =
      rest.length === 1 && isSchema(rest[0]) ? { ...rest[0], ...outer } : { ...outer, anyOf: rest };
    return { schema: inner, nullable: true };
  }
  return { schema, nullable: false };
}

// `'auto' | integer` becomes int-or-string: the string side keeps its pattern or constants as a
// pattern, the integer side its range (each validation only applies to values of its kind).
function intOrString(branches: JsonSchema[], path: string): StructuralSchema {
  const strings = branches.filter((branch) => branch.type === 'string');
  const integers = branches.filter((branch) => branch.type === 'integer');
  if (strings.length !== 1 || integers.length !== 1 || branches.length !== 2) {
    throw new StructuralSchemaError(
      path,
      'a union must be one string and one integer schema (int-or-string)',
    );
  }
  const [text, integer] = [strings[0] as JsonSchema, integers[0] as JsonSchema];
  const out: StructuralSchema = { 'x-kubernetes-int-or-string': true };
  if (text.const !== undefined) out.pattern = `^${escapeRegExp(String(text.const))}$`;
  else if (Array.isArray(text.enum))
    out.pattern = `^(${text.enum.map((value) => escapeRegExp(String(value))).join('|')})$`;
  else if (typeof text.pattern === 'string') out.pattern = text.pattern;
  for (const key of ['minLength', 'maxLength'] as const) if (text[key] !== undefined) out[key] = text[key];
  for (const key of ['minimum', 'maximum'] as const) {
    const value = integer[key];
    if (typeof value === 'number' && Math.abs(value) < Number.MAX_SAFE_INTEGER) out[key] = value;
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// A union of constants of one type (numeric enums) becomes an enum.
function constantUnion(branches: JsonSchema[]): JsonSchema | undefined {
  if (!branches.every((branch) => branch.const !== undefined)) return undefined;
  const types = new Set(branches.map((branch) => branch.type));
  if (types.size !== 1) return undefined;
  return { type: branches[0]?.type, enum: branches.map((branch) => branch.const) };
}

function convert(input: JsonSchema, path: string): StructuralSchema {
  const { schema, nullable } = withoutNull(input);
  let out: StructuralSchema;
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf.filter(isSchema);
    const { anyOf: _anyOf, ...outer } = schema;
    const constants = constantUnion(branches);
    out = constants
      ? convert({ ...outer, ...constants }, path)
      : { ...intOrString(branches, path), ...convertCommon(outer, path) };
  } else {
    out = { ...convertTyped(schema, path), ...convertCommon(schema, path) };
  }
  if (nullable) out.nullable = true;
  return out;
}

function convertCommon(schema: JsonSchema, path: string): StructuralSchema {
  const out: StructuralSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (KEPT_KEYS.has(key)) out[key] = value;
    else if (!DROPPED_KEYS.has(key)) throw new StructuralSchemaError(path, `unsupported keyword ${key}`);
  }
  // zod states the safe-integer range on every int; the API server needs no such bound.
  for (const key of ['minimum', 'maximum'] as const) {
    const value = out[key];
    if (typeof value === 'number' && Math.abs(value) >= Number.MAX_SAFE_INTEGER) delete out[key];
  }
  if (schema.const !== undefined) out.enum = [schema.const];
  if (schema.default !== undefined && schema.default !== null) out.default = schema.default;
  return out;
}

function convertTyped(schema: JsonSchema, path: string): StructuralSchema {
  const type = typeOf(schema, path);
  switch (type) {
    case undefined:
      throw new StructuralSchemaError(path, 'every schema needs a type (or must be an int-or-string union)');
    case 'number':
      // JSON has one number type; zod's numeric enums are integers.
      return {
        type: Array.isArray(schema.enum) && schema.enum.every(Number.isInteger) ? 'integer' : 'number',
      };
    case 'array': {
      if (!isSchema(schema.items)) throw new StructuralSchemaError(path, 'an array needs one items schema');
      return { type, items: convert(schema.items, `${path}[]`) };
    }
    case 'object': {
      const out: StructuralSchema = { type };
      const properties = isSchema(schema.properties) ? schema.properties : {};
      const entries = Object.entries(properties).filter(([, value]) => isSchema(value)) as [
        string,
        JsonSchema,
      ][];
      if (entries.length > 0) {
        out.properties = Object.fromEntries(
          entries.map(([key, value]) => [key, convert(value, `${path}.${key}`)]),
        );
      }
      if (Array.isArray(schema.required) && schema.required.length > 0) out.required = schema.required;
      // A record: every value has one schema (`additionalProperties` with a schema, no properties).
      if (
        entries.length === 0 &&
        isSchema(schema.additionalProperties) &&
        Object.keys(schema.additionalProperties).length > 0
      ) {
        out.additionalProperties = convert(schema.additionalProperties, `${path}{}`);
      }
      return out;
    }
    default:
      return { type };
  }
}

/**
 * Converts a zod schema into a structural OpenAPI v3 schema for a CustomResourceDefinition:
 * every node typed, no `$ref`, `anyOf` only as int-or-string, nullable instead of null types,
 * defaults kept, pruning instead of `additionalProperties: false`. It throws on anything else,
 * so a schema change that Kubernetes could not hold fails the generator, not the install.
 *
 * @param schema - A zod schema of the resource's input form.
 * @param path - The path named in errors.
 * @defaultValue `path`: `'spec'`
 * @throws {@link StructuralSchemaError} naming the first unsupported part.
 */
export function toStructuralSchema(schema: z.ZodType, path = 'spec'): StructuralSchema {
  const json = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'throw',
    reused: 'inline',
    cycles: 'throw',
  });
  return convert(json as JsonSchema, path);
}
