package pcapio

import (
	"io"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// recordSource yields the records of a capture file.
type recordSource interface {
	// next returns the next record to replay; data is valid until the next
	// call.
	next() (data []byte, ts time.Time, err error)
	// record returns the number of records read so far.
	record() int
}

type pcapSource struct {
	r *pcapgo.Reader
	n int
}

func (s *pcapSource) next() ([]byte, time.Time, error) {
	s.n++
	data, ci, err := s.r.ZeroCopyReadPacketData()
	return data, ci.Timestamp, err
}

func (s *pcapSource) record() int { return s.n }

type ngSource struct {
	r          *pcapgo.NgReader
	includeOut bool
	n          int
}

func (s *ngSource) next() ([]byte, time.Time, error) {
	for {
		s.n++
		data, ci, opts, err := s.r.ZeroCopyReadPacketDataWithOptions()
		if err != nil {
			return nil, time.Time{}, err
		}
		if !s.includeOut && opts.Flags != nil && opts.Flags.Direction == pcapgo.NgEpbFlagDirectionOutbound {
			continue
		}
		return data, ci.Timestamp, nil
	}
}

func (s *ngSource) record() int { return s.n }

type emptySource struct{}

func (emptySource) next() ([]byte, time.Time, error) { return nil, time.Time{}, io.EOF }
func (emptySource) record() int                      { return 0 }
