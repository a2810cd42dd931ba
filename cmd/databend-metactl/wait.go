package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/client"
)

// waitNoticeAfter is how long a call retries down addresses before
// waitNotice says so.
const waitNoticeAfter = time.Second

// waitNotice says on stderr what a command waits for while the addresses
// it talks to are down, instead of waiting in silence until --timeout:
//
//	databend-metactl: waiting for 127.0.0.1:9191: connection refused (retrying for up to 10s)
//
// It is the client's OnRetry. A call that has retried for waitNoticeAfter
// prints a line at its next retry; each line (address and reason) is
// printed once.
type waitNotice struct {
	w  io.Writer
	mu struct {
		sync.Mutex
		said map[string]bool
	}
}

func newWaitNotice(w io.Writer) *waitNotice {
	n := &waitNotice{w: w}
	n.mu.said = make(map[string]bool)
	return n
}

func (n *waitNotice) retry(ri client.RetryInfo) {
	if ri.Elapsed < waitNoticeAfter {
		return
	}
	what := fmt.Sprintf("waiting for %s: %s", ri.Endpoint, downReason(ri.Err))
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.said[what] {
		return
	}
	n.mu.said[what] = true
	retrying := "retrying"
	if !ri.Deadline.IsZero() {
		retrying = fmt.Sprintf("retrying for up to %v", (ri.Elapsed + time.Until(ri.Deadline)).Round(time.Second))
	}
	fmt.Fprintf(n.w, "databend-metactl: %s (%s)\n", what, retrying)
}

// downReason shortens the error of an address found down: gRPC's
// `connection error: desc = "transport: Error while dialing: dial tcp
// 127.0.0.1:9191: connect: connection refused"` becomes "connection
// refused"; other errors keep their message.
func downReason(err error) string {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}
	if strings.Contains(msg, "while dialing") {
		msg = strings.TrimRight(msg, `"`)
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return msg
}
