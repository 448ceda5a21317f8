import { z } from 'zod';

/** `status.phase` of a DiscordBot. */
export const DISCORD_BOT_PHASES = ['Pending', 'Provisioning', 'Running', 'Degraded', 'Failed'] as const;
/** One of {@link DISCORD_BOT_PHASES}. */
export type DiscordBotPhase = (typeof DISCORD_BOT_PHASES)[number];

/** The condition types the operator writes. */
export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded', 'TokenValid'] as const;
/** One of {@link CONDITION_TYPES}. */
export type ConditionType = (typeof CONDITION_TYPES)[number];

const count = () => z.int().min(0);

const conditionSchema = z.object({
  type: z.string().min(1).max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1).max(1_024),
  message: z.string().max(32_768),
  observedGeneration: count(),
  lastTransitionTime: z.string().meta({ format: 'date-time' }),
});

/** A status condition, as in `metav1.Condition`. */
export type Condition = z.output<typeof conditionSchema>;

/** The status the operator writes through the status subresource (the CRD's status schema). */
export const discordBotStatusSchema = z
  .object({
    observedGeneration: count().optional(),
    phase: z.enum(DISCORD_BOT_PHASES).optional(),
    shards: count().optional().meta({ description: 'Planned shard count.' }),
    shardsPerPod: count().optional(),
    replicas: count().optional().meta({ description: 'Planned shard pods.' }),
    readyReplicas: count().optional().meta({ description: 'Ready shard pods.' }),
    readyShards: count().optional().meta({ description: 'Shards in ready pods.' }),
    gateway: z
      .object({
        recommendedShards: count(),
        maxConcurrency: count(),
        sessionStartLimit: z.object({ total: count(), remaining: count(), resetAfter: count() }),
        checkedAt: z.string().meta({ format: 'date-time' }),
      })
      .optional()
      .meta({ description: 'What GET /gateway/bot said at checkedAt.' }),
    conditions: z
      .array(conditionSchema)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  })
  .meta({ description: 'What the operator observed.' });

/** The status of a DiscordBot. */
export type DiscordBotStatus = z.output<typeof discordBotStatusSchema>;
