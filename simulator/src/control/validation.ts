import type { FastifyReply } from 'fastify';
import type { z } from 'zod';

/** One line naming each bad field: `shard: expected a number`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');
}

/**
 * Parses a control API input; on failure answers 400 naming the field and returns undefined, so a route
 * reads `const body = parseOr400(schema, request.body, reply); if (!body) return reply;`.
 */
export function parseOr400<T extends z.ZodType>(
  schema: T,
  input: unknown,
  reply: FastifyReply,
): z.output<T> | undefined {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  void reply.code(400).send({ error: describeIssues(result.error) });
  return undefined;
}
