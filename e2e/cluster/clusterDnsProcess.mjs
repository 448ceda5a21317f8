// The cluster DNS as a process of its own, so it outlives `cluster:up` like the other programs.
// Usage: node clusterDnsProcess.mjs <kubeconfig> <host> <port>
import { startClusterDns } from './clusterDns.mjs';

const [kubeconfig, host, port] = process.argv.slice(2);
const dns = await startClusterDns({ kubeconfig, host, port: Number(port) });
process.stdout.write(`cluster DNS answering on ${dns.host}:${dns.port} (UDP and TCP)\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => dns.close().then(() => process.exit(0)));
}
