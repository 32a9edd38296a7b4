/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The system calls a job may not make, whatever its architecture: they reach past the machine into
 * the host's kernel (modules, kexec, keyrings, BPF, swap, quotas) or open files by handle, which
 * escapes any chroot. Included where DENY(name) is defined and __NR_name means that ABI's number. */
#ifdef __NR_kexec_load
DENY(kexec_load)
#endif
#ifdef __NR_kexec_file_load
DENY(kexec_file_load)
#endif
#ifdef __NR_init_module
DENY(init_module)
#endif
#ifdef __NR_finit_module
DENY(finit_module)
#endif
#ifdef __NR_delete_module
DENY(delete_module)
#endif
#ifdef __NR_create_module
DENY(create_module)
#endif
#ifdef __NR_open_by_handle_at
DENY(open_by_handle_at)
#endif
#ifdef __NR_bpf
DENY(bpf)
#endif
#ifdef __NR_perf_event_open
DENY(perf_event_open)
#endif
#ifdef __NR_keyctl
DENY(keyctl)
#endif
#ifdef __NR_add_key
DENY(add_key)
#endif
#ifdef __NR_request_key
DENY(request_key)
#endif
#ifdef __NR_userfaultfd
DENY(userfaultfd)
#endif
#ifdef __NR_acct
DENY(acct)
#endif
#ifdef __NR_swapon
DENY(swapon)
#endif
#ifdef __NR_swapoff
DENY(swapoff)
#endif
#ifdef __NR_iopl
DENY(iopl)
#endif
#ifdef __NR_ioperm
DENY(ioperm)
#endif
#ifdef __NR_lookup_dcookie
DENY(lookup_dcookie)
#endif
#ifdef __NR_nfsservctl
DENY(nfsservctl)
#endif
#ifdef __NR_quotactl
DENY(quotactl)
#endif
#ifdef __NR_quotactl_fd
DENY(quotactl_fd)
#endif
#ifdef __NR_vhangup
DENY(vhangup)
#endif
#ifdef __NR_uselib
DENY(uselib)
#endif
#ifdef __NR__sysctl
DENY(_sysctl)
#endif
#ifdef __NR_vm86
DENY(vm86)
#endif
#ifdef __NR_vm86old
DENY(vm86old)
#endif
