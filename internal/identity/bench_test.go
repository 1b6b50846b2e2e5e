package identity_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// BenchmarkHashPassword hashes with the production parameters from two
// goroutines per CPU (more callers than slots, as under sign-in load), with
// MaxConcurrentHashes at 1, 2 and, for comparison, no practical limit. It reports
// hashes/s; run it with -benchmem and watch the process's peak RSS
// (/usr/bin/time -v) to see what each limit costs in memory.
func BenchmarkHashPassword(b *testing.B) {
	for _, limit := range []int{1, 2, 1 << 10} {
		name := fmt.Sprintf("limit=%d", limit)
		if limit == 1<<10 {
			name = "limit=none"
		}
		b.Run(name, func(b *testing.B) {
			svc := identity.New(nil, identity.Options{MaxConcurrentHashes: limit})
			b.SetParallelism(2)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.HashPassword("correct horse battery staple"); err != nil {
						b.Error(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
		})
	}
}
