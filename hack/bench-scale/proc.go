package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, 100 on every Linux
// architecture Go supports.
const userHZ = 100

// procUsage is what /proc says about one process at one moment.
type procUsage struct {
	// PeakRSS is VmHWM, the peak resident set size; RSS is VmRSS, the current one, of which
	// AnonRSS is RssAnon (heap and stacks; the rest is mostly the binary's own pages) (bytes).
	PeakRSS, RSS, AnonRSS int64
	// CPU is utime+stime.
	CPU time.Duration
}

// readUsage reads /proc/<pid>/status and /proc/<pid>/stat.
func readUsage(pid int) (procUsage, error) {
	var u procUsage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	if u.PeakRSS, err = statusKB(status, "VmHWM:"); err != nil {
		return u, err
	}
	if u.RSS, err = statusKB(status, "VmRSS:"); err != nil {
		return u, err
	}
	if u.AnonRSS, err = statusKB(status, "RssAnon:"); err != nil {
		return u, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	u.CPU, err = statCPU(stat)
	return u, err
}

// statusKB returns the value of a "Name:   1234 kB" line of /proc/<pid>/status, in bytes.
func statusKB(status []byte, name string) (int64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		fields := strings.Fields(line[len(name):])
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected %q", line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		return kb * 1024, err
	}
	return 0, fmt.Errorf("no %s in /proc status", name)
}

// statCPU returns utime+stime of a /proc/<pid>/stat line (fields 14 and 15).
func statCPU(stat []byte) (time.Duration, error) {
	// The fields after the command name, which is in parentheses and may contain spaces; the
	// first of them is field 3 (state).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("malformed /proc stat")
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
