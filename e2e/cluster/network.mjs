// The local node's network: a Linux bridge holding the pod subnet (its first address is the node's
// address, the pods' gateway, the cluster DNS and where the API server listens), a route sending the
// Service range to that bridge (so an address kube-proxy has not translated never leaves by eth0),
// and rules that keep pod traffic on this machine and pods off the kubelet's API. Tear-down also
// removes what the kubelet, kube-proxy and the CNI plugins added to iptables.
import { readFile, writeFile } from 'node:fs/promises';
import { runCommand } from './commands.mjs';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
/** The comment on our own iptables rules, so tear-down finds exactly them. */
const RULE_COMMENT = 'shardfleet local node';
/** Chains the kubelet, kube-proxy and the bridge/portmap CNI plugins create. */
const CLUSTER_CHAIN = /^(KUBE-|CNI-)/;
const TABLES = ['filter', 'nat', 'mangle'];

const iptables = (args) => runCommand('iptables', ['-w', '5', ...args]);

/** The kubelet's API port. */
export const KUBELET_PORT = 10250;

/**
 * The rules that drop pod traffic to or from anything but the bridge (other machines), and what
 * pods send to the kubelet's API: it lets anyone in (anonymous, AlwaysAllow), so only this host
 * may reach it. The API server does, over `lo`, for `kubectl logs` and `exec`.
 */
function nodeRules({ bridge, podCidr }) {
  const tag = ['-m', 'comment', '--comment', RULE_COMMENT];
  return [
    ['FORWARD', '-s', podCidr, '!', '-o', bridge, ...tag, '-j', 'DROP'],
    ['FORWARD', '-d', podCidr, '!', '-i', bridge, ...tag, '-j', 'DROP'],
    ['INPUT', '-i', bridge, '-p', 'tcp', '--dport', String(KUBELET_PORT), ...tag, '-j', 'DROP'],
  ];
}

const linkExists = (name) =>
  runCommand('ip', ['link', 'show', 'dev', name]).then(
    () => true,
    () => false,
  );

/**
 * Creates the bridge with `gateway/<prefix>` of `podCidr`, routes `serviceCidr` to it, turns on
 * IPv4 forwarding (pods reach Services through DNAT on this host) and adds the node's rules.
 * Resolves with what tear-down needs (the earlier ip_forward value).
 */
export async function setUpNodeNetwork({ bridge, podCidr, gateway, serviceCidr }) {
  const prefix = podCidr.split('/')[1];
  if (await linkExists(bridge)) await runCommand('ip', ['link', 'delete', bridge]);
  await runCommand('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await runCommand('ip', ['addr', 'add', `${gateway}/${prefix}`, 'dev', bridge]);
  await runCommand('ip', ['link', 'set', bridge, 'up']);
  await runCommand('ip', ['route', 'replace', serviceCidr, 'dev', bridge, 'src', gateway]);
  const ipForwardBefore = (await readFile(IP_FORWARD, 'utf8')).trim();
  await writeFile(IP_FORWARD, '1');
  for (const rule of nodeRules({ bridge, podCidr })) await iptables(['-I', ...rule]);
  return { bridge, podCidr, gateway, serviceCidr, ipForwardBefore };
}

/** Rules (as `-A CHAIN ...` argument lists) of `table` that jump to a cluster chain, and those chains. */
async function clusterChains(table) {
  const { stdout } = await iptables(['-t', table, '-S']);
  const chains = [];
  const jumps = [];
  for (const line of stdout.split('\n')) {
    const created = /^-N (\S+)$/.exec(line);
    if (created && CLUSTER_CHAIN.test(created[1])) chains.push(created[1]);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (rule && !CLUSTER_CHAIN.test(rule[1]) && / -j (KUBE-|CNI-)\S+/.test(` ${rule[2]}`)) jumps.push(line);
  }
  return { chains, jumps };
}

/** Splits an `iptables -S` rule line into arguments (quoted comments stay one argument). */
function ruleArguments(line) {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((match) => match[1] ?? match[2]);
}

/**
 * Removes every iptables chain named KUBE-* or CNI-* (and the rules of built-in chains that jump
 * to them), in the filter, nat and mangle tables. KUBE-FIREWALL in particular drops traffic to
 * 127.0.0.0/8 from other addresses, which breaks other programs if left.
 */
export async function removeClusterChains() {
  for (const table of TABLES) {
    const { chains, jumps } = await clusterChains(table);
    for (const line of jumps) {
      await iptables(['-t', table, '-D', ...ruleArguments(line).slice(1)]).catch(() => {});
    }
    for (const chain of chains) await iptables(['-t', table, '-F', chain]).catch(() => {});
    for (const chain of chains) await iptables(['-t', table, '-X', chain]).catch(() => {});
  }
}

/** The cluster chains and our own rules still in iptables, one description each. */
export async function clusterIptablesLeftovers() {
  const leftovers = [];
  for (const table of TABLES) {
    const { chains } = await clusterChains(table);
    leftovers.push(...chains.map((chain) => `iptables chain ${chain} (${table})`));
  }
  for (const chain of ['FORWARD', 'INPUT']) {
    const { stdout } = await iptables(['-S', chain]);
    if (stdout.includes(RULE_COMMENT)) leftovers.push(`iptables ${chain} rules of the local node`);
  }
  return leftovers;
}

/** Undoes {@link setUpNodeNetwork} and removes the cluster chains. Safe to call twice. */
export async function tearDownNodeNetwork({ bridge, podCidr, serviceCidr, ipForwardBefore }) {
  await removeClusterChains();
  for (const rule of nodeRules({ bridge, podCidr })) {
    // -C first: deleting a missing rule prints an error but is not one here.
    const present = await iptables(['-C', ...rule]).then(
      () => true,
      () => false,
    );
    if (present) await iptables(['-D', ...rule]);
  }
  await runCommand('ip', ['route', 'delete', serviceCidr, 'dev', bridge]).catch(() => {});
  if (await linkExists(bridge)) await runCommand('ip', ['link', 'delete', bridge]);
  if (ipForwardBefore !== undefined) await writeFile(IP_FORWARD, ipForwardBefore);
}
