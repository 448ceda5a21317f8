import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { generatedCrdFiles } from '../crd/discordBotCrd.js';
import { validateSpec } from '../crd/discordBotSchema.js';
import { StructuralSchemaError, toStructuralSchema } from '../crd/structuralSchema.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

describe('the committed CRD', () => {
  it.each(generatedCrdFiles())('$file is what `npm run crds:generate` writes', ({ file, content }) => {
    const committed = readFileSync(`${repoRoot}${file}`, 'utf8');
    // On failure: run `npm run crds:generate` and commit the result.
    expect(committed).toBe(content);
  });
});

describe('toStructuralSchema', () => {
  it.each([
    [
      'a string',
      z.string().min(1).max(5).regex(/^a+$/),
      { type: 'string', minLength: 1, maxLength: 5, pattern: '^a+$' },
    ],
    ['an int without the safe-integer bounds', z.int(), { type: 'integer' }],
    ['an int range', z.int().min(1).max(9), { type: 'integer', minimum: 1, maximum: 9 }],
    ['a default', z.int().default(3), { type: 'integer', default: 3 }],
    ['an enum', z.enum(['a', 'b']), { type: 'string', enum: ['a', 'b'] }],
    ['a numeric literal union', z.union([z.literal(1), z.literal(2)]), { type: 'integer', enum: [1, 2] }],
    ['a nullable', z.string().nullable(), { type: 'string', nullable: true }],
    [
      'auto or an integer',
      z.union([z.literal('auto'), z.int().min(1)]),
      { 'x-kubernetes-int-or-string': true, pattern: '^auto$', minimum: 1 },
    ],
    [
      'a string map',
      z.record(z.string(), z.string()),
      { type: 'object', additionalProperties: { type: 'string' } },
    ],
    [
      'a free-form object',
      z.looseObject({}).meta({ 'x-kubernetes-preserve-unknown-fields': true }),
      { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    ],
    [
      'an object with required and optional fields',
      z.object({ a: z.string(), b: z.boolean().optional() }).meta({ description: 'x' }),
      {
        type: 'object',
        properties: { a: { type: 'string' }, b: { type: 'boolean' } },
        required: ['a'],
        description: 'x',
      },
    ],
    ['an array', z.array(z.string()).max(3), { type: 'array', items: { type: 'string' }, maxItems: 3 }],
  ])('converts %s', (_what, schema, expected) => {
    expect(toStructuralSchema(schema)).toEqual(expected);
  });

  it.each([
    [
      'a union a structural schema cannot hold',
      z.object({ x: z.union([z.string(), z.boolean()]) }),
      'spec.x',
    ],
    ['an untyped value', z.object({ y: z.unknown() }), 'spec.y'],
  ])('refuses %s, naming the path', (_what, schema, path) => {
    expect(() => toStructuralSchema(schema)).toThrow(StructuralSchemaError);
    expect(() => toStructuralSchema(schema)).toThrow(new RegExp(`^${path.replace('.', '\\.')}: `));
  });
});

describe('validateSpec', () => {
  const minimal = { tokenSecretRef: { name: 'mybot-token' }, redis: { url: 'redis://redis:6379' } };

  it('applies the defaults the CRD also declares', () => {
    const result = validateSpec(minimal);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.spec).toMatchObject({
      tokenSecretRef: { name: 'mybot-token', key: 'token' },
      intents: ['Guilds', 'GuildMessages'],
      sharding: { shards: 'auto', shardsPerPod: 16, guildsPerShard: 1_000 },
      events: [],
      discord: { apiUrl: 'https://discord.com/api' },
      restProxy: { replicas: 2 },
      stream: { maxLength: 100_000 },
    });
    expect(result.value.intents).toBe(1 | 512);
  });

  it.each([
    ['an unknown intent name', { ...minimal, intents: ['Guilds', 'Gilds'] }, 'spec.intents', /Gilds/],
    [
      'both Redis sources',
      { ...minimal, redis: { url: 'redis://r', urlSecretRef: { name: 'r', key: 'url' } } },
      'spec.redis',
      /exactly one/,
    ],
    ['no Redis source', { ...minimal, redis: {} }, 'spec.redis', /exactly one/],
    ['a bad shard count', { ...minimal, sharding: { shards: 'many' } }, 'spec.sharding.shards', /./],
    ['a missing token reference', { redis: minimal.redis }, 'spec.tokenSecretRef', /./],
    [
      'a bad presence',
      { ...minimal, presence: { status: 'busy', activities: [] } },
      'spec.presence.status',
      /./,
    ],
  ])('reports %s naming the field', (_what, spec, field, message) => {
    const result = validateSpec(spec);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const problem = result.problems.find((candidate) => candidate.field === field);
    expect(problem, JSON.stringify(result.problems)).toBeDefined();
    expect(problem!.message).toMatch(message);
  });
});
