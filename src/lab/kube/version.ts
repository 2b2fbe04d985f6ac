/**
 * The Kubernetes version the lab's cluster runs: the kubelet and control-plane images of its machine configs,
 * what its apiservers answer on /version and its Nodes report. One value, so that the kubelets are never
 * newer than the apiserver (Kubernetes' version skew policy). 1.32 is within what Talos 1.13 and 1.14 support
 * (`SupportedKubernetesVersions` back from their `DefaultKubernetesVersion`) and within one minor version of
 * this machine's kubectl.
 */
export const KUBERNETES_VERSION = 'v1.32.3';
