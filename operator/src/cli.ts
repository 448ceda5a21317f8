import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadConfigOrExit } from '@shardfleet/protocol';
import { pino } from 'pino';
import { operatorEnvSchema } from './config.js';
import { Controller, discoverPdbApiVersion } from './controller/Controller.js';
import { generatedCrdFiles, renderDiscordBotCrdYaml } from './crd/discordBotCrd.js';
import { createHealthServer } from './http/HealthServer.js';
import { KubeClient } from './kube/KubeClient.js';
import { LeaderElector } from './leader/LeaderElector.js';
import { OperatorMetrics } from './OperatorMetrics.js';
import { version } from './version.js';

const PROGRAM = 'shardfleet-operator';

/** The usage text; a function, so the operator's start does not render the CRD files to name them. */
function usage(): string {
  const files = generatedCrdFiles().map(({ file }) => file);
  return `usage: ${PROGRAM}              run the operator (configured by environment variables)
       ${PROGRAM} crd          print the DiscordBot CRD (kubectl apply -f -)
       ${PROGRAM} crd --write  write it to ${files.join(', ')} (from the repository root)
       ${PROGRAM} crd --check  exit 1 if one of them is not current`;
}

/** The `crd` command: print, write or check the generated CustomResourceDefinition. */
async function crdCommand(flag: string | undefined): Promise<number> {
  switch (flag) {
    case undefined:
      process.stdout.write(renderDiscordBotCrdYaml());
      return 0;
    case '--write':
      for (const { file, content } of generatedCrdFiles()) {
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, content);
        console.log(`wrote ${file}`);
      }
      return 0;
    case '--check': {
      let current = true;
      for (const { file, content } of generatedCrdFiles()) {
        if ((await readFile(file, 'utf8').catch(() => '')) === content) continue;
        console.error(`${file} is not current: run \`npm run crds:generate\` and commit it`);
        current = false;
      }
      return current ? 0 : 1;
    }
    default:
      console.error(usage());
      return 2;
  }
}

/** Runs the operator until SIGTERM or SIGINT, or one of its commands (`crd`). */
export async function main(args: readonly string[]): Promise<void> {
  if (args[0] === 'crd') {
    process.exitCode = await crdCommand(args[1]);
    return;
  }
  if (args.length > 0) {
    console.error(usage());
    process.exitCode = args[0] === '--help' || args[0] === '-h' ? 0 : 2;
    return;
  }
  const config = loadConfigOrExit(operatorEnvSchema, PROGRAM);
  const log = pino({
    name: PROGRAM,
    level: config.logLevel,
    redact: ['*.token', '*.authorization', 'token'],
  });
  const kubeConfig = new KubeConfig();
  // In a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config.
  kubeConfig.loadFromDefault();
  const metrics = new OperatorMetrics();
  const client = new KubeClient(kubeConfig, (verb, resource, status) =>
    metrics.kubeRequests.inc({ verb, resource, code: String(status) }),
  );

  let controller: Controller | undefined;
  let role: 'leader' | 'standby' | 'starting' = 'starting';
  const elector = config.leaderElection
    ? new LeaderElector(
        client,
        {
          namespace: config.leaseNamespace,
          name: config.leaseName,
          identity: config.identity,
          leaseDurationMs: config.leaseDurationMs,
        },
        log,
      )
    : undefined;
  const server = createHealthServer(
    {
      role: () => role,
      controllerStarted: () => controller?.started ?? false,
      informers: () => controller?.health() ?? [],
    },
    metrics.registry,
  );
  server.listen(config.port, '0.0.0.0');
  await once(server, 'listening');
  log.info(
    { version, port: config.port, namespaces: config.namespaces.length === 0 ? 'all' : config.namespaces },
    'listening',
  );

  const lead = async () => {
    role = 'leader';
    metrics.leader.set(1);
    const pdbApiVersion = await discoverPdbApiVersion(client);
    controller = new Controller(kubeConfig, client, config, metrics, pdbApiVersion, log);
    await controller.start();
  };
  let stopping = false;
  const shutDown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down');
    await controller?.stop();
    await elector?.stop();
    server.close();
    client.close();
    process.exit(code);
  };
  if (elector === undefined) {
    await lead();
  } else {
    role = 'standby';
    log.info({ identity: config.identity }, 'waiting for the lease');
    elector.run(
      () => {
        lead().catch((error: unknown) => {
          log.error({ err: (error as Error).message }, 'could not start the controller');
          void shutDown(1);
        });
      },
      // Another replica may already lead: stop writing at once, let Kubernetes restart us.
      () => void shutDown(1),
    );
  }
  process.once('SIGTERM', () => void shutDown(0));
  process.once('SIGINT', () => void shutDown(0));
}
