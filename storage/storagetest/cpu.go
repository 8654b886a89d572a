package storagetest

import "testing"

// MeasureCPU starts measuring the CPU time of the process; the function it
// returns reports it as cpu-ns/op over b.N operations. On a machine shared
// with other work, CPU time per operation varies much less than ns/op,
// which counts the time spent waiting for a core. It counts every
// goroutine of the process (and none of a database server's), so a
// benchmark should run nothing else meanwhile.
func MeasureCPU(b *testing.B) (stop func()) {
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
