// The end-to-end test's fixtures inside the cluster: Redis and the Discord simulator, each a
// Deployment behind a Service of the same name, so the operator's children find them by name
// (`redis.<namespace>.svc.cluster.local`, `simulator.<namespace>.svc.cluster.local`) as they
// would find a real Redis and reach Discord. Images come from `npm run images:build`; nothing is
// pulled.
import { imageName } from '../images/imageDefinitions.mjs';

export const DefaultFixtureOptions = Object.freeze({
  guilds: 3_000,
  maxConcurrency: 2,
});

/** Restricted pod security: what every fixture container runs with. */
const restricted = Object.freeze({
  runAsNonRoot: true,
  runAsUser: 1000,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

function deploymentWithService({ namespace, name, image, args, port, readinessPath, writablePath }) {
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'shardfleet-e2e' };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            containers: [
              {
                name,
                image,
                imagePullPolicy: 'Never',
                args,
                ports: [{ name: 'main', containerPort: port }],
                readinessProbe: readinessPath
                  ? { httpGet: { path: readinessPath, port }, periodSeconds: 2 }
                  : { tcpSocket: { port }, periodSeconds: 2 },
                securityContext: restricted,
                volumeMounts: [{ name: 'writable', mountPath: writablePath }],
              },
            ],
            volumes: [{ name: 'writable', emptyDir: {} }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels },
      spec: { selector: labels, ports: [{ name: 'main', port, targetPort: port }] },
    },
  ];
}

/**
 * Redis and the simulator for one end-to-end namespace. The simulator tells clients its Service
 * name as its public URL, so `/gateway/bot` sends shard pods to `ws://simulator.<namespace>...`.
 *
 * @param {import('./fixtures.d.mts').FixtureOptions} options
 * @returns {Record<string, unknown>[]}
 */
export function fixtureManifests(options) {
  const { namespace, guilds, maxConcurrency } = { ...DefaultFixtureOptions, ...options };
  const simulatorUrl = `http://simulator.${namespace}.svc.cluster.local:8787`;
  return [
    ...deploymentWithService({
      namespace,
      name: 'redis',
      image: imageName('redis'),
      // The image's entrypoint binds 0.0.0.0:6379 and keeps its files in /tmp.
      args: [],
      port: 6379,
      writablePath: '/tmp',
    }),
    ...deploymentWithService({
      namespace,
      name: 'simulator',
      image: imageName('simulator'),
      args: [
        '--host',
        '0.0.0.0',
        '--port',
        '8787',
        '--public-url',
        simulatorUrl,
        '--guilds',
        String(guilds),
        '--max-concurrency',
        String(maxConcurrency),
      ],
      port: 8787,
      readinessPath: '/_sim/stats',
      writablePath: '/tmp',
    }),
  ];
}
