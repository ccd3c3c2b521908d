package capture

import "syscall"

// nobodyAttr runs a child process as nobody (65534), without groups.
func nobodyAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
}
