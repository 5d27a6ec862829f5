// Seccomp: the spec's `seccomp` field, and the default profile every other container gets.

import type { Issues } from './result.ts';
import type { SpecSeccomp } from './types.ts';
import type { OciSeccomp } from './oci-types.ts';
import { childPath, indexPath, isObject, own, quote, readStringArray, warnUnknownKeys, wrongType } from './json-read.ts';

const ACTIONS = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO'] as const;
type Action = (typeof ACTIONS)[number];

/**
 * Allowed by default, these fail with EPERM: kernel modules and kexec, mounting and namespace games, clock and
 * reboot, keyrings, tracing other processes, raw I/O ports, bpf/perf, swap, quotas, accounting. An app in a
 * Dobby container has no business with any of them (Docker's default profile refuses the same without extra
 * capabilities). Names the running kernel or architecture lacks are skipped by crun/libseccomp.
 */
export const DENIED_SYSCALLS: readonly string[] = [
  'acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'create_module', 'delete_module', 'finit_module',
  'fsconfig', 'fsmount', 'fsopen', 'fspick', 'get_kernel_syms', 'init_module', 'ioperm', 'iopl', 'kcmp',
  'kexec_file_load', 'kexec_load', 'keyctl', 'lookup_dcookie', 'mount', 'mount_setattr', 'move_mount',
  'name_to_handle_at', 'nfsservctl', 'open_by_handle_at', 'open_tree', 'perf_event_open', 'pivot_root',
  'process_vm_readv', 'process_vm_writev', 'ptrace', 'query_module', 'quotactl', 'reboot', 'request_key', 'setns',
  'settimeofday', 'swapoff', 'swapon', 'sysfs', '_sysctl', 'umount', 'umount2', 'unshare', 'uselib',
  'userfaultfd', 'ustat', 'vm86', 'vm86old',
];

export function defaultSeccomp(): OciSeccomp {
  return { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO' }] };
}

export function seccompToOci(spec: SpecSeccomp | null): OciSeccomp {
  if (spec === null) return defaultSeccomp();
  return {
    defaultAction: spec.defaultAction,
    syscalls: [{ names: [...spec.syscalls.names], action: spec.syscalls.action }],
  };
}

function readAction(issues: Issues, path: string, value: unknown): Action | undefined {
  if (typeof value === 'string' && (ACTIONS as readonly string[]).includes(value)) return value as Action;
  if (typeof value === 'string') {
    issues.error('INVALID_VALUE', path, `${quote(value)} is not supported; use "SCMP_ACT_ALLOW" or "SCMP_ACT_ERRNO"`);
  } else {
    wrongType(issues, path, '"SCMP_ACT_ALLOW" or "SCMP_ACT_ERRNO"', value);
  }
  return undefined;
}

/** Dobby's form: `{defaultAction, syscalls: {names: [...], action}}`, actions ALLOW or ERRNO only. */
export function parseSeccomp(issues: Issues, value: unknown): SpecSeccomp | undefined {
  const example = '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}}';
  if (!isObject(value)) {
    wrongType(issues, 'seccomp', `an object like ${example}`, value);
    return undefined;
  }
  warnUnknownKeys(issues, 'seccomp', value, ['defaultAction', 'syscalls']);
  const defaultAction = readAction(issues, 'seccomp.defaultAction', own(value, 'defaultAction'));
  const rawSyscalls = own(value, 'syscalls');
  if (!isObject(rawSyscalls)) {
    wrongType(issues, 'seccomp.syscalls', 'an object like {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}', rawSyscalls);
    return undefined;
  }
  warnUnknownKeys(issues, 'seccomp.syscalls', rawSyscalls, ['names', 'action']);
  const action = readAction(issues, 'seccomp.syscalls.action', own(rawSyscalls, 'action'));
  const namesPath = childPath('seccomp.syscalls', 'names');
  const names = readStringArray(issues, namesPath, own(rawSyscalls, 'names'));
  let badName = false;
  if (names !== undefined && names.length === 0) {
    issues.error('INVALID_VALUE', namesPath, 'is empty; list at least one system call, e.g. ["ptrace"]');
    badName = true;
  }
  names?.forEach((name, i) => {
    if (!/^[a-z_][a-z0-9_]{0,63}$/.test(name)) {
      issues.error('INVALID_VALUE', indexPath(namesPath, i), `${quote(name)} is not a system call name`);
      badName = true;
    }
  });
  if (defaultAction === undefined || action === undefined || names === undefined || badName) return undefined;
  return { defaultAction, syscalls: { names, action } };
}
