package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ticksPerSecond is USER_HZ, the unit of the CPU times in /proc: 100 on every Linux
// architecture Go supports.
const ticksPerSecond = 100

// cpuSample is the CPU time, in seconds, each part of the benchmark had used up to a moment,
// read from /proc: the server process, PostgreSQL (the postmaster, its live backends and
// those that exited), this load generator, and the whole machine (busy and all time).
type cpuSample struct {
	server, postgres, self float64
	busy, all              float64
}

// sampleCPU reads a cpuSample. Errors leave the part at zero: the figures are a diagnosis
// printed beside the results, not a result.
func (b *bench) sampleCPU() cpuSample {
	var s cpuSample
	if b.server != nil {
		s.server = procTimes(b.server.Pid(), true)
	}
	if pm := b.pg.PID(); pm > 0 {
		s.postgres = procTimes(pm, true)
		for _, child := range childrenOf(pm) {
			s.postgres += procTimes(child, true)
		}
	}
	s.self = procTimes(os.Getpid(), false)
	s.busy, s.all = machineTimes()
	return s
}

// addDelta adds what was used between before and after to s.
func (s *cpuSample) addDelta(before, after cpuSample) {
	s.server += after.server - before.server
	s.postgres += after.postgres - before.postgres
	s.self += after.self - before.self
	s.busy += after.busy - before.busy
	s.all += after.all - before.all
}

// cpuPer is what each part used between before and after, in milliseconds per unit of work
// (n reports or transactions), and how busy the machine was, in percent.
func cpuPer(before, after cpuSample, n float64) (per cpuSample, util float64) {
	ms := func(a, b float64) float64 { return (b - a) * 1000 / n }
	per = cpuSample{
		server: ms(before.server, after.server), postgres: ms(before.postgres, after.postgres),
		self: ms(before.self, after.self), busy: ms(before.busy, after.busy),
	}
	if d := after.all - before.all; d > 0 {
		util = 100 * (after.busy - before.busy) / d
	}
	return per, util
}

// rest is the machine's busy time beside the server, PostgreSQL and this process.
func (s cpuSample) rest() float64 { return s.busy - s.server - s.postgres - s.self }

// cpuSplit is what one phase cost in CPU per report, in milliseconds.
func cpuSplit(before, after cpuSample, reports int64) string {
	if reports <= 0 {
		return "no reports"
	}
	p, util := cpuPer(before, after, float64(reports))
	return fmt.Sprintf("CPU per report: server %.2f ms, PostgreSQL %.2f ms, load generator %.2f ms, rest of the machine %.2f ms; machine %.0f%% busy",
		p.server, p.postgres, p.self, p.rest(), util)
}

// pgbenchCPU is what a pgbench run cost in CPU per transaction, in milliseconds, its
// transactions counted from its tps and the run's wall time. pgbench is not this process, so
// its CPU is what the machine used beside PostgreSQL, the server and this process.
func pgbenchCPU(before, after cpuSample, txs float64) string {
	if txs <= 0 {
		return "no pgbench transactions"
	}
	p, util := cpuPer(before, after, txs)
	return fmt.Sprintf("CPU per pgbench transaction: PostgreSQL %.2f ms, pgbench and the rest of the machine %.2f ms; machine %.0f%% busy", p.postgres, p.rest(), util)
}

// statFields returns the fields of /proc/<pid>/stat after the command name (field 3, the state,
// first), or nil when it cannot be read. The command name may hold spaces, so the fields start
// past its last ')'.
func statFields(pid string) []string {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// procTimes is utime+stime of a process, plus cutime+cstime (its waited-for children) when
// withChildren, in seconds; 0 when it cannot be read.
func procTimes(pid int, withChildren bool) float64 {
	f := statFields(strconv.Itoa(pid))
	// utime, stime, cutime, cstime are fields 14–17.
	if len(f) < 15 {
		return 0
	}
	var t float64
	n := 2
	if withChildren {
		n = 4
	}
	for _, s := range f[11 : 11+n] {
		v, _ := strconv.ParseFloat(s, 64)
		t += v
	}
	return t / ticksPerSecond
}

// childrenOf lists the live processes whose parent (field 4) is pid.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := strconv.Itoa(pid)
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(e.Name()); len(f) > 1 && f[1] == parent {
			out = append(out, child)
		}
	}
	return out
}

// machineTimes reads the first line of /proc/stat: busy (all but idle, iowait and steal, the
// time a hypervisor gave the machine's CPUs to others) and all CPU time of the machine, in
// seconds.
func machineTimes() (busy, all float64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0
	}
	for i, s := range f[1:] {
		if i >= 8 { // guest times are already in user
			break
		}
		v, _ := strconv.ParseFloat(s, 64)
		all += v
		if i != 3 && i != 4 && i != 7 { // idle, iowait, steal
			busy += v
		}
	}
	return busy / ticksPerSecond, all / ticksPerSecond
}
