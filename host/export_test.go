package host

import "time"

// SetRSInterval sets the time between router solicitations until the
// returned func restores it; tests that use it must not run in parallel.
func SetRSInterval(d time.Duration) (restore func()) {
	old := rsInterval.Swap(int64(d))
	return func() { rsInterval.Store(old) }
}
