/** A failed Kubernetes API request: the HTTP status and the API's `Status` reason and message. */
export class KubeApiError extends Error {
  public readonly status: number;
  public readonly reason: string;
  public readonly method: string;
  public readonly path: string;

  public constructor(method: string, path: string, status: number, reason: string, message: string) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.method = method;
    this.path = path;
  }

  /** 409: another writer changed the object first; retry from a fresh read. */
  public get isConflict(): boolean {
    return this.status === 409;
  }

  public get isNotFound(): boolean {
    return this.status === 404;
  }
}
