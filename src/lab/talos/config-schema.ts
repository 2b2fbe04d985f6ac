/**
 * What Talos's config loader knows, as data for the lab's judge (read from siderolabs/talos v1.13.9 and
 * v1.14.0-rc.1; no code copied):
 *
 * - REGISTERED_KINDS: the document kinds each release's registry knows (`registry.Register` calls under
 *   pkg/machinery/config/types/**; every kind is registered for apiVersion `v1alpha1` only). Any other
 *   kind fails decoding with `"<kind>" "<apiVersion>": not registered`
 *   (pkg/machinery/config/internal/registry/registry.go).
 * - CONTROLPLANE_ONLY_KINDS: v1.14 documents that implement `container.ControlplaneOnlyConfig`.
 * - V1ALPHA1_SCHEMA: the YAML keys of every struct reachable from `v1alpha1.Config`
 *   (pkg/machinery/config/types/v1alpha1/v1alpha1_types.go), as siderolabs/gen `xyaml.CheckUnknownKeys`
 *   derives them (the `yaml` tag name, or the lower-cased Go field name). The key sets are the same in both
 *   releases. A field whose type the lab does not describe (scalars, maps of scalars, inline maps, structs
 *   with embedded fields, types of other packages) is `any`: nothing under it is checked, so the lab never
 *   refuses a key Talos accepts. `[]T` is a list of T, `{}T` a map of T; `CertAndKey`, `Cert` and `Key` are
 *   siderolabs/crypto's `PEMEncodedCertificateAndKey` (crt, key), `PEMEncodedCertificate` (crt) and
 *   `PEMEncodedKey` (key), whose fields hold base64 of PEM (`key: "******"` is read as redacted).
 * - DOCUMENT_SCHEMA: the same for the CA documents the lab reads (pkg/machinery/config/types/k8s,
 *   `meta.Meta` inline gives apiVersion and kind, `meta.CertificateAndKey` gives cert and key).
 */

export type TalosLine = 'v1.13' | 'v1.14';

const V113_KINDS = `
BlackholeRouteConfig BondConfig BridgeConfig DHCPv4Config DHCPv6Config DummyLinkConfig EnvironmentConfig
EthernetConfig EventSinkConfig ExistingVolumeConfig ExtensionServiceConfig ExternalVolumeConfig
HCloudVIPConfig HostnameConfig ImageVerificationConfig KmsgLogConfig KubeSpanConfig KubeSpanEndpointsConfig
Layer2VIPConfig LinkAliasConfig LinkConfig NetworkDefaultActionConfig NetworkRuleConfig OOMConfig
PCIDriverRebindConfig RawVolumeConfig RegistryAuthConfig RegistryMirrorConfig RegistryTLSConfig
ResolverConfig RoutingRuleConfig SideroLinkConfig StaticHostConfig SwapVolumeConfig TCPProbeConfig
TimeSyncConfig TrustedRootsConfig UserVolumeConfig VLANConfig VRFConfig VolumeConfig WatchdogTimerConfig
WireguardConfig ZswapConfig`;

/** Kinds added in v1.14 (v1.14.0-rc.1 registers every v1.13.9 kind and these). */
const V114_ADDED_KINDS = `
BGPInstanceConfig CRIBaseRuntimeSpecConfig CRICustomizationConfig ContainerConfig DiscoveryIdentityConfig
DiscoveryServiceConfig EtcFileConfig FilesystemScrubConfig FilesystemTrimConfig HTTPProbeConfig
ImageCacheConfig KernelModuleConfig KubeAPIServerCAConfig KubeAPIServerConfig KubeAdmissionControlConfig
KubeAggregatorCAConfig KubeAuditPolicyConfig KubeAuthenticationConfig KubeAuthorizerConfig KubeClusterConfig
KubeControllerManagerConfig KubeCoreDNSConfig KubeCredentialProviderConfig KubeEtcdEncryptionConfig
KubeExternalManifestConfig KubeFlannelCNIConfig KubeInlineManifestConfig KubeNetworkConfig KubeNodeConfig
KubePrismConfig KubeProxyConfig KubeSchedulerConfig KubeServiceAccountConfig KubeStaticPodConfig
KubeTalosAPIAccessConfig KubeletConfig LVMLogicalVolumeConfig LVMVolumeGroupConfig RAIDArrayConfig
SecurityProfileConfig SysctlConfig SysfsConfig UdevRulesConfig UnattendedInstallConfig VethConfig`;

const words = (s: string): string[] => s.split(/\s+/).filter(Boolean);

export const REGISTERED_KINDS: Record<TalosLine, ReadonlySet<string>> = {
  'v1.13': new Set(words(V113_KINDS)),
  'v1.14': new Set([...words(V113_KINDS), ...words(V114_ADDED_KINDS)]),
};

export const CONTROLPLANE_ONLY_KINDS: ReadonlySet<string> = new Set(
  words(`
KubeAPIServerConfig KubeAdmissionControlConfig KubeAggregatorCAConfig KubeAuditPolicyConfig KubeAuthenticationConfig
KubeAuthorizerConfig KubeControllerManagerConfig KubeCoreDNSConfig KubeEtcdEncryptionConfig KubeFlannelCNIConfig
KubeProxyConfig KubeSchedulerConfig KubeServiceAccountConfig KubeTalosAPIAccessConfig`),
);

/** A key's shape: '' = any, a struct name, `[]shape` or `{}shape`. */
export type Shape = string;

const V1ALPHA1_STRUCTS: Record<string, string> = {
  Config: 'version debug persist machine:MachineConfig cluster:ClusterConfig',
  MachineConfig: `
    type token ca:CertAndKey acceptedCAs:[]Cert certSANs controlPlane:MachineControlPlaneConfig
    kubelet:KubeletConfig pods network:NetworkConfig disks:[]MachineDisk install:InstallConfig
    files:[]MachineFile env time:TimeConfig sysctls sysfs registries:RegistriesConfig
    systemDiskEncryption:SystemDiskEncryptionConfig features:FeaturesConfig udev:UdevConfig
    logging:LoggingConfig kernel:KernelConfig seccompProfiles:[]MachineSeccompProfile baseRuntimeSpecOverrides
    nodeLabels nodeAnnotations nodeTaints`,
  ClusterConfig: `
    id secret controlPlane:ControlPlaneConfig clusterName network:ClusterNetworkConfig token
    aescbcEncryptionSecret secretboxEncryptionSecret ca:CertAndKey acceptedCAs:[]Cert aggregatorCA:CertAndKey
    serviceAccount:Key apiServer:APIServerConfig controllerManager:ControllerManagerConfig proxy:ProxyConfig
    scheduler:SchedulerConfig discovery:ClusterDiscoveryConfig etcd:EtcdConfig coreDNS:CoreDNS
    externalCloudProvider:ExternalCloudProviderConfig extraManifests extraManifestHeaders
    inlineManifests:[]ClusterInlineManifest adminKubeconfig:AdminKubeconfigConfig allowSchedulingOnMasters
    allowSchedulingOnControlPlanes`,
  APIServerConfig: `
    image extraArgs extraVolumes:[]VolumeMountConfig env certSANs disablePodSecurityPolicy
    admissionControl:[]AdmissionPluginConfig auditPolicy resources:ResourcesConfig
    authorizationConfig:[]AuthorizationConfigAuthorizerConfig`,
  AdminKubeconfigConfig: 'certLifetime',
  AdmissionPluginConfig: 'name configuration',
  AuthorizationConfigAuthorizerConfig: 'type name webhook',
  Bond: `
    interfaces deviceSelectors:[]NetworkDeviceSelector arpIPTarget mode xmitHashPolicy lacpRate adActorSystem
    arpValidate arpAllTargets primary primaryReselect failOverMac adSelect miimon updelay downdelay arpInterval
    resendIgmp minLinks lpInterval packetsPerSlave numPeerNotif tlbDynamicLb allSlavesActive useCarrier
    adActorSysPrio adUserPortKey peerNotifyDelay`,
  Bridge: 'interfaces stp:STP vlan:BridgeVLAN',
  BridgePort: 'master',
  BridgeVLAN: 'vlanFiltering',
  CNIConfig: 'name urls flannel:FlannelCNIConfig',
  ClusterDiscoveryConfig: 'enabled registries:DiscoveryRegistriesConfig',
  ClusterInlineManifest: 'name contents',
  ClusterNetworkConfig: 'cni:CNIConfig dnsDomain podSubnets serviceSubnets',
  ControlPlaneConfig: 'endpoint localAPIServerPort',
  ControllerManagerConfig: 'image extraArgs extraVolumes:[]VolumeMountConfig env resources:ResourcesConfig',
  CoreDNS: 'disabled image',
  DHCPOptions: 'routeMetric ipv4 ipv6 duidv6',
  Device: `
    interface deviceSelector:NetworkDeviceSelector addresses cidr routes:[]Route bond:Bond bridge:Bridge
    bridgePort:BridgePort vlans:[]Vlan mtu dhcp ignore dummy dhcpOptions:DHCPOptions
    wireguard:DeviceWireguardConfig vip:DeviceVIPConfig`,
  DeviceVIPConfig: 'ip equinixMetal:VIPEquinixMetalConfig hcloud:VIPHCloudConfig',
  DeviceWireguardConfig: 'privateKey listenPort firewallMark peers:[]DeviceWireguardPeer',
  DeviceWireguardPeer: 'publicKey endpoint persistentKeepaliveInterval allowedIPs',
  DiscoveryRegistriesConfig: 'kubernetes:RegistryKubernetesConfig service:RegistryServiceConfig',
  DiskPartition: 'size mountpoint',
  EncryptionConfig: 'provider keys:[]EncryptionKey cipher keySize blockSize options',
  EncryptionKey: 'static:EncryptionKeyStatic nodeID kms:EncryptionKeyKMS slot tpm:EncryptionKeyTPM',
  EncryptionKeyKMS: 'endpoint',
  EncryptionKeyStatic: 'passphrase',
  EncryptionKeyTPM: 'checkSecurebootStatusOnEnroll',
  EtcdConfig: 'image ca:CertAndKey extraArgs subnet advertisedSubnets listenSubnets',
  ExternalCloudProviderConfig: 'enabled manifests',
  ExtraHost: 'ip aliases',
  ExtraMount: 'destination type source options uidMappings:[]LinuxIDMapping gidMappings:[]LinuxIDMapping',
  FeaturesConfig: `
    rbac stableHostname kubernetesTalosAPIAccess:KubernetesTalosAPIAccessConfig apidCheckExtKeyUsage
    diskQuotaSupport kubePrism:KubePrism hostDNS:HostDNSConfig imageCache:ImageCacheConfig
    nodeAddressSortAlgorithm`,
  FlannelCNIConfig: 'extraArgs kubeNetworkPoliciesEnabled',
  HostDNSConfig: 'enabled forwardKubeDNSToHost resolveMemberNames',
  ImageCacheConfig: 'localEnabled',
  InstallConfig: `
    disk diskSelector:InstallDiskSelector extraKernelArgs image extensions:[]InstallExtensionConfig bootloader
    wipe legacyBIOSSupport grubUseUKICmdline`,
  InstallDiskSelector: 'size:InstallDiskSizeMatcher name model serial modalias uuid wwid type busPath',
  InstallDiskSizeMatchData: 'op size',
  InstallDiskSizeMatcher: 'matchdata:InstallDiskSizeMatchData condition',
  InstallExtensionConfig: 'image',
  KernelConfig: 'modules:[]KernelModuleConfig',
  KernelModuleConfig: 'name parameters',
  KubePrism: 'enabled port',
  KubeSpanFilters: 'endpoints excludeAdvertisedNetworks',
  KubeletConfig: `
    image clusterDNS extraArgs extraMounts:[]ExtraMount extraConfig credentialProviderConfig
    defaultRuntimeSeccompProfileEnabled registerWithFQDN nodeIP:KubeletNodeIPConfig skipNodeRegistration
    disableManifestsDirectory`,
  KubeletNodeIPConfig: 'validSubnets',
  KubernetesTalosAPIAccessConfig: 'enabled allowedRoles allowedKubernetesNamespaces',
  LinuxIDMapping: 'containerID hostID size',
  LoggingConfig: 'destinations:[]LoggingDestination',
  LoggingDestination: 'endpoint format extraTags',
  MachineControlPlaneConfig: 'controllerManager:MachineControllerManagerConfig scheduler:MachineSchedulerConfig',
  MachineControllerManagerConfig: 'disabled',
  MachineDisk: 'device partitions:[]DiskPartition',
  MachineFile: 'content permissions path op',
  MachineSchedulerConfig: 'disabled',
  MachineSeccompProfile: 'name value',
  NetworkConfig: `
    hostname interfaces:[]Device nameservers searchDomains extraHostEntries:[]ExtraHost kubespan:NetworkKubeSpan
    disableSearchDomain`,
  NetworkDeviceSelector: 'busPath hardwareAddr permanentAddr pciID driver physical',
  NetworkKubeSpan: `
    enabled advertiseKubernetesNetworks allowDownPeerBypass harvestExtraEndpoints mtu filters:KubeSpanFilters`,
  ProxyConfig: 'disabled image mode extraArgs',
  RegistriesConfig: 'mirrors:{}RegistryMirrorConfig config:{}RegistryConfig',
  RegistryAuthConfig: 'username password auth identityToken',
  RegistryConfig: 'tls:RegistryTLSConfig auth:RegistryAuthConfig',
  RegistryKubernetesConfig: 'disabled',
  RegistryMirrorConfig: 'endpoints overridePath skipFallback',
  RegistryServiceConfig: 'disabled endpoint',
  RegistryTLSConfig: 'clientIdentity:CertAndKey ca insecureSkipVerify',
  ResourcesConfig: 'requests limits',
  Route: 'network gateway source metric mtu',
  STP: 'enabled',
  SchedulerConfig: 'image extraArgs extraVolumes:[]VolumeMountConfig env resources:ResourcesConfig config',
  SystemDiskEncryptionConfig: 'state:EncryptionConfig ephemeral:EncryptionConfig',
  TimeConfig: 'disabled servers bootTimeout',
  UdevConfig: 'rules',
  VIPEquinixMetalConfig: 'apiToken',
  VIPHCloudConfig: 'apiToken',
  Vlan: 'addresses cidr routes:[]Route dhcp vlanId mtu vip:DeviceVIPConfig dhcpOptions:DHCPOptions',
  VolumeMountConfig: 'hostPath mountPath readonly',
  CertAndKey: 'crt key',
  Cert: 'crt',
  Key: 'key',
};

const DOCUMENT_STRUCTS: Record<string, string> = {
  KubeAPIServerCAConfig: 'apiVersion kind issuingCA:MetaCertAndKey acceptedCAs',
  KubeAggregatorCAConfig: 'apiVersion kind issuingCA:MetaCertAndKey acceptedCAs',
  MetaCertAndKey: 'cert key',
};

function compile(table: Record<string, string>): Map<string, Map<string, Shape>> {
  const out = new Map<string, Map<string, Shape>>();
  for (const [name, spec] of Object.entries(table)) {
    out.set(
      name,
      new Map(
        words(spec).map((f) => {
          const at = f.indexOf(':');
          return at < 0 ? [f, ''] : [f.slice(0, at), f.slice(at + 1)];
        }),
      ),
    );
  }
  return out;
}

/** Struct name → its known keys with their shapes (v1alpha1 and the CA documents share one table). */
export const STRUCTS: ReadonlyMap<string, ReadonlyMap<string, Shape>> = compile({
  ...V1ALPHA1_STRUCTS,
  ...DOCUMENT_STRUCTS,
});

/** The root shape of a document kind ('' when the lab does not check its keys). */
export function documentShape(kind: string): Shape {
  return kind === 'v1alpha1' ? 'Config' : DOCUMENT_STRUCTS[kind] !== undefined ? kind : '';
}
