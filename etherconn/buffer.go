package etherconn

import (
	"sync"

	"github.com/etherconn/etherconn/backend"
)

// Send buffers are pooled: a frame is built, handed to the backend (which
// copies or transmits it before returning) and the buffer comes back.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, backend.MaxFrameLen)
	return &b
}}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// GetBuffer returns a pooled buffer of backend.MaxFrameLen bytes for
// building a frame; give it back with PutBuffer once sent.
func GetBuffer() *[]byte { return getBuf() }

// PutBuffer returns a buffer obtained from GetBuffer.
func PutBuffer(b *[]byte) { putBuf(b) }
