import type { RESTError, RESTErrorData, RESTErrorFieldInformation } from 'discord-api-types/v10';

/** An error answered the way Discord answers it: a status and a JSON `{code, message, errors?}` body. */
export class DiscordHttpError extends Error {
  public constructor(
    public readonly status: number,
    public readonly body: RESTError,
  ) {
    super(body.message);
  }

  public static invalidJson(): DiscordHttpError {
    return new DiscordHttpError(400, { code: 50_109, message: 'The request body contains invalid JSON.' });
  }

  public static emptyMessage(): DiscordHttpError {
    return new DiscordHttpError(400, { code: 50_006, message: 'Cannot send an empty message' });
  }

  public static tooLarge(): DiscordHttpError {
    return new DiscordHttpError(413, { code: 40_005, message: 'Request entity too large' });
  }
}

type ErrorTree = { [key: string]: ErrorTree | RESTErrorFieldInformation[] };

/**
 * Collects field errors into Discord's nested `errors` shape
 * (`{embeds: {0: {title: {_errors: [{code, message}]}}}}`) for a 50035 Invalid Form Body.
 */
export class FormErrors {
  private readonly tree: ErrorTree = {};
  private count = 0;

  public add(path: readonly (string | number)[], code: string, message: string): void {
    let node = this.tree;
    for (const key of path) {
      const child = node[String(key)];
      if (child === undefined || Array.isArray(child)) {
        const created: ErrorTree = {};
        node[String(key)] = created;
        node = created;
      } else {
        node = child;
      }
    }
    const errors = node._errors;
    if (Array.isArray(errors)) errors.push({ code, message });
    else node._errors = [{ code, message }];
    this.count++;
  }

  /** Throws the 50035 error when any field was wrong. */
  public throwIfAny(): void {
    if (this.count > 0) throw this.toError();
  }

  public toError(): DiscordHttpError {
    return new DiscordHttpError(400, {
      code: 50_035,
      message: 'Invalid Form Body',
      errors: this.tree as unknown as RESTErrorData,
    });
  }
}
