package relay

// SetError makes err the queue's pending error, as sk_err is a kernel
// socket's (an ICMP error about a datagram the socket sent, reported with
// IP_RECVERR): the next Pop or PopBatch returns it, once, before any
// queued packet, and one blocked now returns it at once. A later error
// replaces one not taken yet, as a kernel socket keeps only the last. Nil
// clears it. A layer's writers take it with TakeError. A closed queue
// keeps none.
func (q *Queue) SetError(err error) {
	if err == nil {
		q.sockErr.Store(nil)
		return
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	// Stored under mu: a Pop checks it and starts waiting in one critical
	// section, so it either sees the error or is woken below.
	q.sockErr.Store(&err)
	w := q.wakeLocked()
	q.mu.Unlock()
	w.send()
}

// TakeError returns the pending error and clears it (nil if none): a
// socket's write fails with it, once, as sendmsg(2) takes sk_err. Without
// one it costs an atomic load: it is on every write's path.
func (q *Queue) TakeError() error {
	if q.sockErr.Load() == nil {
		return nil
	}
	if e := q.sockErr.Swap(nil); e != nil {
		return *e
	}
	return nil
}
