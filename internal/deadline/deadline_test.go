package deadline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
		want bool
	}{
		{"none", time.Time{}, false},
		{"past", time.Now().Add(-time.Second), true},
		{"future", time.Now().Add(time.Hour), false},
		{"epoch", time.Unix(0, 0), true},
		{"before epoch", time.Unix(-5, 0), true},
		{"year 2300", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"year 3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"past, wall clock only", time.Now().Add(-time.Second).Round(0), true},
		{"future, wall clock only", time.Now().Add(time.Hour).Round(0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w Write
			w.Set(tc.t)
			assert.Equal(t, tc.want, w.Exceeded())
		})
	}
	var w Write
	w.Set(time.Now().Add(-time.Second))
	w.Set(time.Time{})
	assert.False(t, w.Exceeded(), "cleared")
}

func TestReadExceeded(t *testing.T) {
	var d Read
	assert.False(t, d.Exceeded())
	d.Set(time.Now().Add(time.Hour))
	assert.False(t, d.Exceeded())
	d.Set(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	assert.False(t, d.Exceeded(), "far future")
	d.Set(time.Now().Add(10 * time.Millisecond))
	<-d.Wait()
	assert.True(t, d.Exceeded())
	d.Set(time.Time{})
	assert.False(t, d.Exceeded(), "cleared")
	d.Set(time.Unix(1, 0))
	assert.True(t, d.Exceeded(), "in the past: at once")
	d.Stop()
}

// BenchmarkReadSet moves a read deadline a second ahead before every read,
// as applications do.
func BenchmarkReadSet(b *testing.B) {
	var d Read
	defer d.Stop()
	b.ReportAllocs()
	for range b.N {
		d.Set(time.Now().Add(time.Second))
	}
}
