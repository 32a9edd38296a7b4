/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The system calls a job may not make, whatever its architecture: they reach past the machine into
 * the host's kernel (modules, kexec, keyrings, BPF, swap, quotas) or open files by handle, which
 * escapes any chroot. Included where DENY(name, error) is defined and __NR_name means that ABI's
 * number; the call fails with that error. Keyrings fail with ENOSYS, as if the kernel had none: the
 * container runtimes a job may run (crun, runc) go on without a session keyring then, and stop on
 * any other error. */
#ifdef __NR_kexec_load
DENY(kexec_load, EPERM)
#endif
#ifdef __NR_kexec_file_load
DENY(kexec_file_load, EPERM)
#endif
#ifdef __NR_init_module
DENY(init_module, EPERM)
#endif
#ifdef __NR_finit_module
DENY(finit_module, EPERM)
#endif
#ifdef __NR_delete_module
DENY(delete_module, EPERM)
#endif
#ifdef __NR_create_module
DENY(create_module, EPERM)
#endif
#ifdef __NR_open_by_handle_at
DENY(open_by_handle_at, EPERM)
#endif
#ifdef __NR_bpf
DENY(bpf, EPERM)
#endif
#ifdef __NR_perf_event_open
DENY(perf_event_open, EPERM)
#endif
#ifdef __NR_keyctl
DENY(keyctl, ENOSYS)
#endif
#ifdef __NR_add_key
DENY(add_key, ENOSYS)
#endif
#ifdef __NR_request_key
DENY(request_key, ENOSYS)
#endif
#ifdef __NR_userfaultfd
DENY(userfaultfd, EPERM)
#endif
#ifdef __NR_acct
DENY(acct, EPERM)
#endif
#ifdef __NR_swapon
DENY(swapon, EPERM)
#endif
#ifdef __NR_swapoff
DENY(swapoff, EPERM)
#endif
#ifdef __NR_iopl
DENY(iopl, EPERM)
#endif
#ifdef __NR_ioperm
DENY(ioperm, EPERM)
#endif
#ifdef __NR_lookup_dcookie
DENY(lookup_dcookie, EPERM)
#endif
#ifdef __NR_nfsservctl
DENY(nfsservctl, EPERM)
#endif
#ifdef __NR_quotactl
DENY(quotactl, EPERM)
#endif
#ifdef __NR_quotactl_fd
DENY(quotactl_fd, EPERM)
#endif
#ifdef __NR_vhangup
DENY(vhangup, EPERM)
#endif
#ifdef __NR_uselib
DENY(uselib, EPERM)
#endif
#ifdef __NR__sysctl
DENY(_sysctl, EPERM)
#endif
#ifdef __NR_vm86
DENY(vm86, EPERM)
#endif
#ifdef __NR_vm86old
DENY(vm86old, EPERM)
#endif
