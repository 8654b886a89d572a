package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat. Linux exports
// USER_HZ, which is 100 on every architecture it supports for user space,
// whatever the kernel's own tick rate.
const userHZ = 100

// procGroup is the CPU and memory of a set of processes at one moment.
type procGroup struct {
	pids []int
	// cpu sums utime, stime, cutime and cstime. Counting the reaped
	// children keeps the difference of two samples right for a set that
	// loses processes during the run, such as PostgreSQL backends that
	// exit: their whole CPU time moves into the postmaster's cutime.
	cpu time.Duration
	// hwmKiB and rssKiB sum VmHWM (peak resident set since the process
	// started) and VmRSS; maxHWMKiB is the largest single VmHWM.
	hwmKiB, rssKiB, maxHWMKiB int64
}

func (g *procGroup) add(pid int, cpu time.Duration, hwm, rss int64) {
	g.pids = append(g.pids, pid)
	g.cpu += cpu
	g.hwmKiB += hwm
	g.rssKiB += rss
	g.maxHWMKiB = max(g.maxHWMKiB, hwm)
}

// procSample is one sample of the fixed pids and of the processes found by
// name (a pid in both counts as fixed).
type procSample struct {
	fixed, named procGroup
}

// procSampler samples fixed pids and, when byName is set, every process
// whose name (/proc/PID/comm) is byName at the moment of the sample.
type procSampler struct {
	proc   string // /proc, or a test directory of the same shape
	pids   []int
	byName string
}

func (s procSampler) enabled() bool { return len(s.pids) > 0 || s.byName != "" }

// sample reads /proc. A fixed pid that is gone is an error (the server
// died); a process found by name that exits while it is read is skipped.
func (s procSampler) sample() (procSample, error) {
	var out procSample
	for _, pid := range s.pids {
		cpu, hwm, rss, err := s.read(pid)
		if err != nil {
			return out, fmt.Errorf("process %d: %w", pid, err)
		}
		out.fixed.add(pid, cpu, hwm, rss)
	}
	if s.byName == "" {
		return out, nil
	}
	named, err := s.findByName()
	if err != nil {
		return out, err
	}
	if len(named) == 0 {
		return out, fmt.Errorf("no process is called %q", s.byName)
	}
	for _, pid := range named {
		if slices.Contains(s.pids, pid) {
			continue
		}
		cpu, hwm, rss, err := s.read(pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // exited since the listing
		}
		if err != nil {
			return out, fmt.Errorf("process %d: %w", pid, err)
		}
		out.named.add(pid, cpu, hwm, rss)
	}
	return out, nil
}

func (s procSampler) read(pid int) (cpu time.Duration, hwm, rss int64, err error) {
	if cpu, err = s.cpu(pid); err != nil {
		return 0, 0, 0, err
	}
	hwm, rss, err = s.memory(pid)
	return cpu, hwm, rss, err
}

// findByName lists the processes whose comm is s.byName.
func (s procSampler) findByName() ([]int, error) {
	entries, err := os.ReadDir(s.proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(s.proc, e.Name(), "comm"))
		if err != nil {
			continue // exited since the listing
		}
		if strings.TrimSpace(string(comm)) == s.byName {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// cpu reads utime+stime+cutime+cstime (fields 14 to 17 of proc_pid_stat(5)).
func (s procSampler) cpu(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(filepath.Join(s.proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(raw)
}

// parseStatCPU reads the CPU fields of a stat line. The command name (field
// 2) is in parentheses and may hold spaces and parentheses itself, so
// fields are counted after the last ')'.
func parseStatCPU(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state); utime is field 14, so f[11].
	if len(f) < 15 {
		return 0, errors.New("short stat")
	}
	var ticks int64
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// memory reads VmHWM and VmRSS in KiB from /proc/PID/status.
func (s procSampler) memory(pid int) (hwm, rss int64, err error) {
	f, err := os.Open(filepath.Join(s.proc, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		fields := strings.Fields(v) // "12345 kB"
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("status %s: %w", k, err)
		}
		if k == "VmHWM" {
			hwm = n
		} else {
			rss = n
		}
	}
	return hwm, rss, sc.Err()
}

// selfCPU is this process's own CPU time (user and system).
func selfCPU() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(raw)
}
