/**
 * Forwarding is suspended: the bot made so many invalid requests (401, 403, 429) in 10 minutes
 * that one more could get its IP banned by Discord.
 */
export class InvalidRequestLimitError extends Error {
  public constructor(
    /** The invalid-request limit per 10 minutes. */
    public readonly limit: number,
    /** When forwarding resumes, in ms. */
    public readonly retryAfterMs: number,
  ) {
    super(
      `invalid-request limit of ${limit} per 10 minutes reached; forwarding resumes in ${retryAfterMs} ms`,
    );
    this.name = 'InvalidRequestLimitError';
  }
}
