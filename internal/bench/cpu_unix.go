//go:build unix

package bench

import (
	"syscall"
	"time"
)

// cpuTimes is the CPU time the process has used.
type cpuTimes struct {
	user, sys time.Duration
}

func processCPU() cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	return cpuTimes{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}
}
