import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeClient } from './KubeClient.js';
import { EVENTS, resourcePath } from './resources.js';

/** Records Kubernetes Events about an object, for people (`kubectl describe`). */
export interface IEventRecorder {
  record(
    object: KubernetesObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

/** The default {@link IEventRecorder}: a core/v1 Event per call; failures are logged, never thrown. */
export class EventRecorder implements IEventRecorder {
  public constructor(
    private readonly client: KubeClient,
    private readonly identity: string,
    private readonly log: Logger,
  ) {}

  public async record(
    object: KubernetesObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = object.metadata?.namespace ?? 'default';
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${object.metadata?.name ?? 'object'}.`, namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata?.name,
        namespace,
        uid: object.metadata?.uid,
        resourceVersion: object.metadata?.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1_024),
      source: { component: 'shardfleet-operator' },
      reportingComponent: 'shardfleet.dev/operator',
      reportingInstance: this.identity,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.client.create(resourcePath(EVENTS, namespace), event);
    } catch (error) {
      this.log.warn({ err: (error as Error).message, reason }, 'could not record an event');
    }
  }
}
