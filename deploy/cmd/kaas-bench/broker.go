package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is 100
// on every mainstream architecture.
const clockTick = 10 * time.Millisecond

// findBroker returns the pid of the local RabbitMQ (Erlang's beam.smp) when the broker URL
// names this machine and /proc shows exactly one such process, and 0 otherwise.
func findBroker(url string) int {
	if !isLocal(url) {
		return 0
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	pid := 0
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "beam.smp" {
			continue
		}
		if pid != 0 {
			return 0 // more than one Erlang VM: cannot tell which is the broker
		}
		pid, _ = strconv.Atoi(filepath.Base(d))
	}
	if _, ok := brokerCPU(pid); !ok {
		return 0
	}
	return pid
}

// brokerCPU returns the user and system CPU the process has used, from /proc/<pid>/stat.
func brokerCPU(pid int) (time.Duration, bool) {
	if pid == 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * clockTick, true
}

// systemBusy returns the CPU time all processes have used, from /proc/stat: every state
// but idle and iowait, summed over CPUs.
func systemBusy() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		busy += n
	}
	return time.Duration(busy) * clockTick, true
}
