package identity_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// BenchmarkHashPassword hashes from two goroutines per CPU (more callers than
// slots, as under sign-in load) with the default argon2id parameters and with
// OWASP's low-memory equivalent (7 MiB × 5), and MaxConcurrentHashes at 1, 2
// and, for comparison, no practical limit. It reports hashes/s, the machine's
// hashing limit that first sign-in is measured against; run it with -benchmem
// and watch the process's peak RSS (/usr/bin/time -v) to see what each limit
// costs in memory.
func BenchmarkHashPassword(b *testing.B) {
	for _, p := range []struct {
		name string
		kib  uint32
		t    uint32
	}{{"19MiBx2", 19456, 2}, {"7MiBx5", 7168, 5}} {
		for _, limit := range []int{1, 2, 1 << 10} {
			name := fmt.Sprintf("%s/limit=%d", p.name, limit)
			if limit == 1<<10 {
				name = p.name + "/limit=none"
			}
			b.Run(name, func(b *testing.B) {
				params := identity.DefaultParams()
				params.MemoryKiB, params.Iterations = p.kib, p.t
				svc := identity.New(nil, identity.Options{MaxConcurrentHashes: limit, Params: params})
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
}
