import * as k8s from '@kubernetes/client-node';
import {
  type ControlPlane,
  ensureKubernetesBinaries,
  startControlPlane,
  waitForCrdEstablished,
} from '../../cluster/index.mjs';

/** A private control plane with the clients the e2e dry-run tests use. */
export interface ApiServer {
  controlPlane: ControlPlane;
  core: k8s.CoreV1Api;
  extensions: k8s.ApiextensionsV1Api;
  objects: k8s.KubernetesObjectApi;
  /** A server-side apply as the end-to-end spec makes it; `dryRun` 'All' persists nothing. */
  apply<T extends k8s.KubernetesObject>(object: T, dryRun?: 'All'): Promise<T>;
  /** Waits (up to 30 s) until the CRD `name` is established, its resources served. */
  crdEstablished(name: string): Promise<void>;
}

/** Starts a private control plane (building the Kubernetes binaries first if need be). */
export async function startApiServer(fieldManager: string): Promise<ApiServer> {
  await ensureKubernetesBinaries({ log: (line) => process.stderr.write(`e2e: ${line}\n`) });
  const controlPlane = await startControlPlane();
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kubeConfig);
  const extensions = kubeConfig.makeApiClient(k8s.ApiextensionsV1Api);
  return {
    controlPlane,
    core: kubeConfig.makeApiClient(k8s.CoreV1Api),
    extensions,
    objects,
    apply: (object, dryRun) =>
      objects.patch(object, undefined, dryRun, fieldManager, true, k8s.PatchStrategy.ServerSideApply),
    crdEstablished: (name) => waitForCrdEstablished(extensions, name, { timeoutMs: 30_000 }),
  };
}
