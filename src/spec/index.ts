// Dobby spec → OCI bundle contents: the public surface of src/spec/ (parse, convert, validate, write the rootfs).

export type {
  DobbySpec, HostNamespace, NetworkMode, RdkPluginSpec, SpecCapabilities, SpecDevice, SpecLoopMount, SpecMount, SpecResources, SpecRlimit,
  SpecSeccomp,
} from './types.ts';
export type { Result, SpecError, SpecErrorCode } from './result.ts';
export { formatSpecErrors, specErrorsToDobbyError } from './result.ts';
export { parseSpec, MAX_SPEC_BYTES, MAX_SPEC_DEPTH, SPEC_FIELDS, EXTENSION_FIELDS } from './parse-spec.ts';
export { RESOURCE_FIELDS } from './parse-extensions.ts';
export { RLIMIT_NAMES } from './rlimits.ts';
export type { OciConversion } from './to-oci.ts';
export { specToOci, OCI_VERSION } from './to-oci.ts';
export type { DevNode, DeviceAllowRange, ExtraMount, HardwareAccess, MountSourceKind, SpecToOciOptions } from './options.ts';
export { DEFAULT_DEVICE_WHITELIST, DEFAULT_PIDS_LIMIT, INIT_PATH_IN_CONTAINER } from './options.ts';
export type { OciConfig } from './oci-types.ts';
export type { RootfsFile, RootfsPlan } from './rootfs-plan.ts';
export type { PluginSet, RdkPluginEntry } from './rdk-plugins.ts';
export { writeRootfs } from './write-rootfs.ts';
export { validateOciConfig, OCI_SCHEMA_DIR } from './validate-oci.ts';
export type { HostFacts } from './host-facts.ts';
export { readHostFacts } from './host-facts.ts';
export { computeCapabilities, normaliseCapability, KNOWN_CAPABILITIES, DEFAULT_CAPABILITIES } from './capabilities.ts';
export { DENIED_SYSCALLS } from './seccomp.ts';
