package server

import (
	"math"
	"testing"
)

func TestSnapshotDue(t *testing.T) {
	tests := []struct {
		name       string
		minEntries uint64
		since      logSince
		lastSize   uint64
		want       bool
	}{
		{"no snapshot yet, too few entries", 1024, logSince{1023, 1 << 20}, 0, false},
		{"no snapshot yet, enough entries", 1024, logSince{1024, 100}, 0, true},
		{"enough entries, log smaller than the snapshot", 1024, logSince{5000, 1 << 20}, 8 << 20, false},
		{"enough entries, log as large as the snapshot", 1024, logSince{30000, 8 << 20}, 8 << 20, true},
		{"log larger than the snapshot, too few entries", 1024, logSince{1000, 64 << 20}, 8 << 20, false},
		{"huge state, small entries: bounded by the entry limit", 1024, logSince{1024 * snapshotMaxLogFactor, 50 << 20}, 1 << 30, true},
		{"huge state, just under the entry limit", 1024, logSince{1024*snapshotMaxLogFactor - 1, 50 << 20}, 1 << 30, false},
		{"large state: the log's memory caps the wait", 1024, logSince{200000, snapshotMaxLogBytes}, 273 << 20, true},
		{"large state, log just under the cap", 1024, logSince{200000, snapshotMaxLogBytes - 1}, 273 << 20, false},
		{"minEntries 1", 1, logSince{1, 10}, 10, true},
		{"minEntries 0 behaves as 1", 0, logSince{0, 0}, 0, false},
		{"huge minEntries: the limit does not overflow", math.MaxUint64 / 2, logSince{math.MaxUint64 / 2, 1}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snapshotDue(tt.minEntries, tt.since, tt.lastSize); got != tt.want {
				t.Errorf("snapshotDue(%d, %+v, %d) = %v, want %v", tt.minEntries, tt.since, tt.lastSize, got, tt.want)
			}
		})
	}
}
