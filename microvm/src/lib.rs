//! The `microvm` KVM micro-VM launcher, as a library. Its modules (vm, vcpu, boot,
//! devices, syscalls, host) arrive with the microvm issues.
