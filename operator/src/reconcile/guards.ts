import { type ValidatedSpec, validateSpec } from '../crd/discordBotSchema.js';
import { DNS_1035_LABEL, MAX_BOT_NAME_LENGTH } from './names.js';

/**
 * The spec checks the CRD schema cannot make: the bot's name (its children's names extend it),
 * intent names, one Redis source. Each problem names its field.
 *
 * @returns The validated spec, or a message listing the problems.
 */
export function checkSpec(
  name: string,
  spec: unknown,
): { ok: true; value: ValidatedSpec } | { ok: false; message: string } {
  const problems: string[] = [];
  if (name.length > MAX_BOT_NAME_LENGTH || !DNS_1035_LABEL.test(name)) {
    problems.push(
      `metadata.name: must be a DNS-1035 label of at most ${MAX_BOT_NAME_LENGTH} characters (the children's names extend it)`,
    );
  }
  const validated = validateSpec(spec);
  if (!validated.ok)
    problems.push(...validated.problems.map((problem) => `${problem.field}: ${problem.message}`));
  if (problems.length > 0 || !validated.ok) return { ok: false, message: problems.join('; ') };
  return { ok: true, value: validated.value };
}
