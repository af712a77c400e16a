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

func TestReadWhenAndExceeded(t *testing.T) {
	var d Read
	assert.True(t, d.When().IsZero())
	assert.False(t, d.Exceeded())

	future := time.Now().Add(time.Hour)
	d.Set(future)
	assert.True(t, d.When().Equal(future), "When keeps the nanoseconds")
	assert.False(t, d.Exceeded())

	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	d.Set(far)
	assert.True(t, d.When().After(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)), "beyond UnixNano: as good as never")

	d.Set(time.Now().Add(10 * time.Millisecond))
	<-d.Wait()
	assert.True(t, d.Exceeded())
	assert.True(t, d.When().IsZero(), "a passed deadline is no longer to come")

	d.Set(time.Time{})
	assert.False(t, d.Exceeded(), "cleared")
	d.Set(time.Unix(1, 0))
	assert.True(t, d.Exceeded(), "in the past: at once")
	assert.True(t, d.When().IsZero())
	d.Stop()
}
