//go:build !unix

package bench

import "time"

// cpuTimes is the CPU time the process has used; unknown (zero) off Unix.
type cpuTimes struct {
	user, sys time.Duration
}

func processCPU() cpuTimes { return cpuTimes{} }
