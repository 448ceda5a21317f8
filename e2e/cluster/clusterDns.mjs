// The cluster DNS of the local provider. Debian has no CoreDNS, and pods find Redis, the REST
// proxy and the simulator by Service name as on any cluster, so this answers what kube-dns would
// for them: `<service>.<namespace>.svc.<domain>` (the ClusterIP, or the ready endpoints of a
// headless Service) and `<hostname>.<service>.<namespace>.svc.<domain>` (a StatefulSet pod behind
// its headless Service). It knows only the cluster: other names are refused, never forwarded, so
// no query leaves the machine.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import dnsPacket from 'dns-packet';

export const DefaultClusterDnsOptions = Object.freeze({
  host: '127.0.0.1',
  port: 53,
  domain: 'cluster.local',
  ttlSeconds: 5,
  /** First restart delay of a failed watch; doubles up to 10 s. */
  retryMs: 500,
});

const MAX_UDP_ANSWER = 512;
/** Response codes, carried in the low 4 bits of the header's flags. */
const FORMAT_ERROR = 1;
const NAME_ERROR = 3;
const REFUSED = 5;

/**
 * Starts the responder on UDP and TCP `host:port` (port 0: a free one, the same for both).
 *
 * @param {import('./clusterDns.d.mts').ClusterDnsOptions} options
 * @returns {Promise<import('./clusterDns.d.mts').ClusterDns>}
 */
export async function startClusterDns(options) {
  const { kubeconfig, host, port, domain, ttlSeconds, retryMs } = { ...DefaultClusterDnsOptions, ...options };
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const services = watchAll(
    kubeConfig,
    '/api/v1/services',
    () => core.listServiceForAllNamespaces(),
    retryMs,
  );
  const endpoints = watchAll(
    kubeConfig,
    '/api/v1/endpoints',
    () => core.listEndpointsForAllNamespaces(),
    retryMs,
  );
  await Promise.all([services.synced, endpoints.synced]);

  const suffix = `.svc.${domain}`;
  /** The A records of a name, `null` when the name is not the cluster's (refused). */
  const addressesOf = (name) => {
    const lower = name.toLowerCase().replace(/\.$/, '');
    if (!lower.endsWith(suffix)) return null;
    const labels = lower.slice(0, -suffix.length).split('.');
    if (labels.length < 2 || labels.length > 3) return [];
    const [hostname, serviceName, namespace] = labels.length === 3 ? labels : [undefined, ...labels];
    const service = services.informer.list(namespace).find((item) => item.metadata?.name === serviceName);
    if (service === undefined) return [];
    const clusterIp = service.spec?.clusterIP;
    if (hostname === undefined && clusterIp && clusterIp !== 'None') return [clusterIp];
    const subsets =
      endpoints.informer.list(namespace).find((item) => item.metadata?.name === serviceName)?.subsets ?? [];
    return subsets
      .flatMap((subset) => subset.addresses ?? [])
      .filter((address) => hostname === undefined || address.hostname === hostname)
      .map((address) => address.ip);
  };

  const answer = (query, maxBytes) => {
    const [question] = query.questions ?? [];
    const reply = {
      type: 'response',
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: query.questions,
    };
    if (question === undefined || question.class !== 'IN') {
      return dnsPacket.encode({ ...reply, flags: reply.flags | FORMAT_ERROR });
    }
    const addresses = addressesOf(question.name);
    if (addresses === null) return dnsPacket.encode({ ...reply, flags: reply.flags | REFUSED });
    const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHORITATIVE_ANSWER;
    // A name the cluster does not have is NXDOMAIN; a known name asked for another type has no data.
    if (addresses.length === 0) return dnsPacket.encode({ ...reply, flags: flags | NAME_ERROR });
    const answers =
      question.type === 'A'
        ? addresses.map((data) => ({ type: 'A', class: 'IN', name: question.name, ttl: ttlSeconds, data }))
        : [];
    const encoded = dnsPacket.encode({ ...reply, flags, answers });
    if (encoded.length <= maxBytes) return encoded;
    return dnsPacket.encode({ ...reply, flags: flags | dnsPacket.TRUNCATED_RESPONSE });
  };

  const udp = createSocket('udp4');
  udp.on('message', (message, peer) => {
    let query;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    udp.send(answer(query, MAX_UDP_ANSWER), peer.port, peer.address);
  });
  await new Promise((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, resolve);
  });
  const boundPort = udp.address().port;

  const tcp = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const length = buffered.readUInt16BE(0);
        let query;
        try {
          query = dnsPacket.decode(buffered.subarray(2, 2 + length));
        } catch {
          socket.destroy();
          return;
        }
        buffered = buffered.subarray(2 + length);
        const reply = answer(query, 65_535);
        const framed = Buffer.alloc(2 + reply.length);
        framed.writeUInt16BE(reply.length, 0);
        reply.copy(framed, 2);
        socket.write(framed);
      }
    });
  });
  await new Promise((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(boundPort, host, resolve);
  });

  return {
    host,
    port: boundPort,
    async close() {
      services.stop();
      endpoints.stop();
      await Promise.all([
        new Promise((resolve) => udp.close(resolve)),
        new Promise((resolve) => tcp.close(resolve)),
      ]);
    },
  };
}

/** A cache of one resource in every namespace that restarts its watch after errors. */
function watchAll(kubeConfig, path, list, retryMs) {
  const informer = k8s.makeInformer(kubeConfig, path, list);
  let stopped = false;
  let delayMs = retryMs;
  let timer;
  let markSynced;
  const synced = new Promise((resolve) => (markSynced = resolve));
  const start = () =>
    informer.start().then(
      () => {
        delayMs = retryMs;
        markSynced();
      },
      () => undefined,
    );
  informer.on('error', () => {
    if (stopped) return;
    timer = setTimeout(start, delayMs);
    delayMs = Math.min(delayMs * 2, 10_000);
  });
  void start();
  return {
    informer,
    synced,
    stop() {
      stopped = true;
      clearTimeout(timer);
      void informer.stop();
    },
  };
}
