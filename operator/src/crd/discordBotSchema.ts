import {
  DEFAULT_DISCORD_API_URL,
  DISPATCH_NAME_PATTERN,
  gatewayPresenceSchema,
  parseIntents,
} from '@shardfleet/protocol';
import { z } from 'zod';

/** The API group of the shardfleet resources. */
export const API_GROUP = 'shardfleet.dev';
/** The served and stored version of the DiscordBot resource. */
export const API_VERSION = 'v1alpha1';
/** `apiVersion` of a DiscordBot. */
export const DISCORD_BOT_API_VERSION = `${API_GROUP}/${API_VERSION}`;
/** `kind` of the resource. */
export const DISCORD_BOT_KIND = 'DiscordBot';
/** Plural resource name, as in the API path. */
export const DISCORD_BOT_PLURAL = 'discordbots';

const PRESERVE_UNKNOWN_FIELDS = { 'x-kubernetes-preserve-unknown-fields': true } as const;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const HTTP_URL = /^https?:\/\/[^\s]+$/;
const REDIS_URL = /^rediss?:\/\/[^\s]+$/;
const IMAGE = /^[^\s]+$/;
const SHARDS_AUTO = 'auto';

// Kubernetes' own types (resources, affinity, tolerations, env) are validated by the API server
// when the operator applies the children; the CRD keeps them as given.
function kubernetesObject(description: string) {
  return z.looseObject({}).meta({ description, ...PRESERVE_UNKNOWN_FIELDS });
}

function kubernetesList(description: string) {
  return z.array(z.looseObject({}).meta(PRESERVE_UNKNOWN_FIELDS)).meta({ description });
}

function secretKeySelector(description: string, defaultKey?: string) {
  const key = z.string().min(1).max(253).regex(SECRET_KEY).meta({ description: 'Key in the Secret.' });
  return z
    .object({
      name: z
        .string()
        .min(1)
        .max(253)
        .regex(DNS_SUBDOMAIN)
        .meta({ description: 'Name of a Secret in the namespace of the DiscordBot.' }),
      key: defaultKey === undefined ? key : key.default(defaultKey),
    })
    .meta({ description });
}

function image(description: string) {
  return z.string().min(1).max(512).regex(IMAGE).meta({ description });
}

const intentSchema = z
  .union([z.string().min(1).max(64), z.int().min(0)])
  .meta({ description: 'An intent name (Guilds, GuildMessages or GUILD_MESSAGES) or a bitfield number.' });

const presenceSchema = gatewayPresenceSchema.meta({
  description: 'The presence every shard sets when it identifies (status, activities, since, afk).',
});

/**
 * The spec of a DiscordBot: the one source of the CRD's OpenAPI schema (generated from it) and
 * of the operator's own validation, which also checks what the schema cannot express.
 */
export const discordBotSpecSchema = z
  .object({
    tokenSecretRef: secretKeySelector(
      'The Secret holding the bot token; the token never appears in the resource.',
      'token',
    ),
    intents: z
      .array(intentSchema)
      .max(32)
      .default(['Guilds', 'GuildMessages'])
      .meta({ description: 'Gateway intents, OR-ed together.' }),
    sharding: z
      .object({
        shards: z
          .union([z.literal(SHARDS_AUTO), z.int().min(1).max(100_000)])
          .default(SHARDS_AUTO)
          .meta({
            description:
              "'auto' (sized from Discord's recommendation and guildsPerShard) or a shard count. Rounded up to a multiple of max_concurrency when that is > 1.",
          }),
        shardsPerPod: z
          .int()
          .min(1)
          .max(256)
          .default(16)
          .meta({ description: 'Shards each worker pod runs.' }),
        guildsPerShard: z.int().min(100).max(2_500).default(1_000).meta({
          description:
            "Target guilds per shard; only with shards: auto. Discord's recommendation assumes 1000.",
        }),
      })
      .prefault({})
      .meta({ description: 'How many shards, in how many pods.' }),
    events: z.array(z.string().min(1).max(64).regex(DISPATCH_NAME_PATTERN)).max(256).default([]).meta({
      description: 'Dispatch names forwarded to Redis, such as MESSAGE_CREATE; empty forwards all.',
    }),
    presence: presenceSchema.optional(),
    redis: z
      .object({
        url: z
          .string()
          .max(2_048)
          .regex(REDIS_URL)
          .optional()
          .meta({ description: 'redis:// or rediss:// URL (without a password; use urlSecretRef for one).' }),
        urlSecretRef: secretKeySelector('A Secret holding the Redis URL.').optional(),
      })
      .meta({ description: 'The Redis that carries the event streams; url or urlSecretRef.' }),
    discord: z
      .object({
        apiUrl: z
          .string()
          .max(2_048)
          .regex(HTTP_URL)
          .default(DEFAULT_DISCORD_API_URL)
          .meta({ description: 'The Discord API base URL, without the version; override for a simulator.' }),
        identifyIntervalMs: z.int().min(1).max(60_000).optional().meta({
          description:
            'Interval between identifies of one bucket; shorter than 5000 only against a simulator.',
        }),
      })
      .prefault({}),
    shard: z
      .object({
        image: image('Shard worker image; the operator default if unset.').optional(),
        resources: kubernetesObject('Resource requests and limits of a shard pod.').optional(),
        nodeSelector: z
          .record(z.string(), z.string())
          .optional()
          .meta({ description: 'Node selector of shard pods.' }),
        tolerations: kubernetesList('Tolerations of shard pods.').optional(),
        affinity: kubernetesObject('Affinity of shard pods.').optional(),
      })
      .prefault({}),
    restProxy: z
      .object({
        replicas: z.int().min(1).max(50).default(2).meta({ description: 'REST proxy pods.' }),
        image: image('REST proxy image; the operator default if unset.').optional(),
        resources: kubernetesObject('Resource requests and limits of a proxy pod.').optional(),
      })
      .prefault({}),
    bot: z
      .object({
        image: image('The bot image (your code on the shardfleet bot runtime).'),
        replicas: z.int().min(0).max(1_000).default(1).meta({ description: 'Bot pods.' }),
        env: kubernetesList('Extra environment variables of bot pods (EnvVar objects).').optional(),
        resources: kubernetesObject('Resource requests and limits of a bot pod.').optional(),
        command: z.array(z.string()).optional().meta({ description: 'Overrides the image entrypoint.' }),
        args: z.array(z.string()).optional().meta({ description: 'Arguments of the entrypoint.' }),
      })
      .optional()
      .meta({ description: 'The bot pods that consume the event stream; none if unset.' }),
    stream: z
      .object({
        maxLength: z
          .int()
          .min(1_000)
          .max(100_000_000)
          .default(100_000)
          .meta({ description: 'Approximate MAXLEN of the event stream.' }),
      })
      .prefault({}),
  })
  .meta({ description: 'The desired bot fleet.' });

/** The spec of a DiscordBot as written (defaults optional). */
export type DiscordBotSpecInput = z.input<typeof discordBotSpecSchema>;
/** The spec of a DiscordBot with every default applied. */
export type DiscordBotSpec = z.output<typeof discordBotSpecSchema>;

/** One problem of a spec: the field path (`spec.intents[1]`) and what is wrong. */
export interface SpecProblem {
  readonly field: string;
  readonly message: string;
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : `${text}.${String(key)}`),
    'spec',
  );
}

/** What the operator knows of a valid spec beyond the schema: the intents bitfield. */
export interface ValidatedSpec {
  readonly spec: DiscordBotSpec;
  readonly intents: number;
}

/**
 * Validates a spec the API server accepted, including what the CRD schema cannot express
 * (intent names, one Redis source).
 *
 * @returns The spec with defaults and its intents bitfield, or the problems, each naming its field.
 */
export function validateSpec(
  input: unknown,
): { ok: true; value: ValidatedSpec } | { ok: false; problems: SpecProblem[] } {
  const result = discordBotSpecSchema.safeParse(input);
  if (!result.success) {
    return {
      ok: false,
      problems: result.error.issues.map((issue) => ({
        field: fieldPath(issue.path),
        message: issue.message,
      })),
    };
  }
  const spec = result.data;
  const problems: SpecProblem[] = [];
  let intents = 0;
  try {
    intents = parseIntents(spec.intents);
  } catch (error) {
    problems.push({ field: 'spec.intents', message: (error as Error).message });
  }
  if ((spec.redis.url === undefined) === (spec.redis.urlSecretRef === undefined)) {
    problems.push({ field: 'spec.redis', message: 'set exactly one of url and urlSecretRef' });
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: { spec, intents } };
}
